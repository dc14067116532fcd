import { CliError, EXIT_FAILED, EXIT_OK } from '../cli-error.js';
import { println, type CliIo } from '../cli-io.js';
import { paramsFromResource } from '../catalog-operations.js';
import { parseFault, parseParams, parseResource } from '../cli-input.js';
import { openSimulatedWorld } from '../simulated-world.js';
import { openStoreSession } from '../store-session.js';
import { logPrinter } from './operation.js';
import type { GlobalOptions } from './with-store.js';

export interface RunOptions extends GlobalOptions {
  env: string;
  resource: string;
  param: string[];
  fault: string[];
  user: string;
  speed: string;
  cloud?: string;
  idempotencyKey?: string;
}

export const DEFAULT_RUN_SPEED = '20';

/** 'max' or a positive number of virtual ms per real ms. */
export const parseSpeed = (value: string): number => {
  if (value === 'max') return Infinity;
  const speed = Number(value);
  if (!(speed > 0) || !Number.isFinite(speed)) {
    throw new CliError(`--speed '${value}' is not a positive number or 'max'`, {
      hint: '1 runs the simulated cloud in real time, 20 twenty times faster, max without waiting',
    });
  }
  return speed;
};

/**
 * Starts a catalog operation on the simulated cloud and follows its log to the end. Ctrl-C
 * requests cancellation (the operation rolls back); a second Ctrl-C leaves without waiting.
 */
export const runCommand = async (type: string, options: RunOptions, io: CliIo) => {
  const resource = parseResource(options.resource);
  const given = parseParams(options.param);
  const faults = options.fault.map(parseFault);
  const speed = parseSpeed(options.speed);
  const session = await openStoreSession(options);
  let world;
  try {
    world = openSimulatedWorld({
      store: session.stores.eventStore,
      speed,
      faults,
      ...(options.cloud ? { cloudFile: options.cloud } : {}),
    });
  } catch (error) {
    await session.close();
    throw error;
  }
  let interrupts = 0;
  let operationId: string | undefined;
  const onInterrupt = () => {
    interrupts += 1;
    if (interrupts > 1 || !operationId) {
      println(
        io.err,
        `Left without waiting: operation ${operationId ?? '(none)'} may still be running.`,
      );
      process.exit(130);
    }
    println(
      io.err,
      `Cancelling operation ${operationId} (Ctrl-C again to leave without waiting)...`,
    );
    void world.engine.cancel(operationId, { user: options.user }).catch(() => undefined);
  };
  process.on('SIGINT', onInterrupt);
  try {
    const handle = await world.engine.start({
      type,
      environment: options.env,
      resource,
      user: options.user,
      params: { ...paramsFromResource(world.cloud, type, options.env, resource), ...given },
      ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
    });
    operationId = handle.id;
    if (options.json) io.out.write(`${JSON.stringify({ kind: 'started', id: handle.id })}\n`);
    else
      println(
        io.err,
        `Operation ${handle.id} started: ${type} on ${options.resource} in ${options.env}`,
      );
    const done = new Promise<void>((resolve, reject) =>
      handle.logs.subscribe({
        next: logPrinter(io, options.json),
        complete: resolve,
        error: reject,
      }),
    );
    const result = await handle.result;
    await done;
    world.save();
    if (options.json) io.out.write(`${JSON.stringify({ kind: 'result', ...result })}\n`);
    else println(io.err, result.summary);
    return result.status === 'succeeded' ? EXIT_OK : EXIT_FAILED;
  } finally {
    process.off('SIGINT', onInterrupt);
    await world.close();
    await session.close();
  }
};
