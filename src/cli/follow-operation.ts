import type { OperationRequest } from '../engine/engine.js';
import type { OperationResult } from '../engine/operation-result.js';
import { opledgerCommand, println, type CliIo } from './cli-io.js';
import { logPrinter } from './commands/operation.js';
import type { SimulatedWorld } from './simulated-world.js';

/** Signals that mean "stop": Ctrl-C, a terminal closing, a service manager stopping us. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The first stop signal asks for a graceful stop (cancel, then roll back); the second leaves at
 * once after `leave()` has saved what must not be lost. Returns the function that removes them.
 */
export const onStopSignals = (
  io: CliIo,
  handlers: { stop: () => void; leave: () => void },
): (() => void) => {
  let received = 0;
  const handler = (signal: NodeJS.Signals) => {
    received += 1;
    if (received === 1) {
      println(io.err, `${signal}: stopping (again to leave without waiting)...`);
      handlers.stop();
      return;
    }
    handlers.leave();
    process.exit(130);
  };
  for (const s of STOP_SIGNALS) process.on(s, handler);
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, handler);
  };
};

export interface FollowOptions {
  json?: boolean | undefined;
  /** Called once the operation has an id (e.g. to cancel it on a stop signal). */
  started?: (id: string) => void;
  /** Leave out the "started" line (the demo announces each operation itself). */
  quiet?: boolean;
}

const QUEUED_NOTICE_MS = 1_000;

/**
 * Starts an operation on the simulated world and prints its log as it is written. The cloud is
 * saved after every line, so a process killed mid-operation leaves the cloud as the operation's
 * events describe it, for the next run to recover.
 */
export const startAndFollow = async (
  world: Pick<SimulatedWorld, 'engine' | 'track' | 'save'>,
  request: OperationRequest,
  io: CliIo,
  options: FollowOptions = {},
): Promise<OperationResult> => {
  const handle = await world.engine.start(request);
  world.track(handle.id);
  options.started?.(handle.id);
  const resource = `${request.resource.type}:${request.resource.handle}`;
  if (options.json) io.out.write(`${JSON.stringify({ kind: 'started', id: handle.id })}\n`);
  else if (!options.quiet)
    println(io.err, `Operation ${handle.id} started: ${request.type} on ${resource}`);
  const notice = setTimeout(() => {
    void world.engine.getOperation(handle.id).then(
      (op) => {
        if (op.status !== 'queued') return;
        println(
          io.err,
          `Operation ${handle.id} waits for the operation running on ${resource} to end; see it with: ${opledgerCommand(io.env)} operations --env ${request.environment} --resource ${resource} --status running`,
        );
      },
      () => undefined,
    );
  }, QUEUED_NOTICE_MS);
  const print = logPrinter(io, options.json);
  const printed = new Promise<void>((resolve, reject) =>
    handle.logs.subscribe({
      next: (line) => {
        print(line);
        world.save();
      },
      complete: resolve,
      error: reject,
    }),
  );
  try {
    const result = await handle.result;
    await printed;
    world.save();
    return result;
  } finally {
    clearTimeout(notice);
  }
};
