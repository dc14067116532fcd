import { previousRelease } from '../../catalog/app/rollback.js';
import type { OperationDefinition } from '../../domain/operation-definition.js';
import { ENVIRONMENT_RESOURCE } from '../../domain/stream-names.js';
import { CliError, EXIT_FAILED, EXIT_OK } from '../cli-error.js';
import { println, type CliIo } from '../cli-io.js';
import {
  catalogOperations,
  paramsFromResource,
  placementDefaults,
  resourceTypesOf,
} from '../catalog-operations.js';
import { parseFault, parseParams, parseResource } from '../cli-input.js';
import { onStopSignals, startAndFollow } from '../follow-operation.js';
import { openSimulatedWorld, type SimulatedWorld } from '../simulated-world.js';
import { openStoreSession, type StoreSession } from '../store-session.js';
import {
  leaveForRecoveryIfStoreGone,
  storeOutageMsOf,
  storeOutagePrinter,
} from '../store-outage-notice.js';
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

/** The operation must act on the resource it names: an app deploy on an app, and so on. */
const checkResource = (
  type: string,
  env: string,
  resource: { type: string; handle: string },
  params: Record<string, unknown>,
) => {
  const accepted = resourceTypesOf(type);
  if (!accepted.includes(resource.type)) {
    throw new CliError(`${type} acts on ${accepted.join(' or ')}, not on ${resource.type}`, {
      hint: `pass --resource ${accepted[0]}:HANDLE`,
    });
  }
  if (resource.type === ENVIRONMENT_RESOURCE && resource.handle !== env) {
    throw new CliError(`--resource environment:${resource.handle} is not --env ${env}`, {
      hint: `an environment operation acts on its own environment: --resource environment:${env}`,
    });
  }
  for (const key of ['app', 'databaseId', 'environment'] as const) {
    const value = params[key];
    const expected = key === 'environment' ? env : resource.handle;
    if (value !== undefined && value !== expected) {
      throw new CliError(`--param ${key}=${String(value)} is not the resource (${expected})`, {
        hint: `leave --param ${key} out: --resource names it`,
      });
    }
  }
};

/** Params the CLI can work out for the simulated cloud, so that `--resource` is often enough. */
const defaultsFor = async (
  type: string,
  env: string,
  handle: string,
  world: SimulatedWorld,
  session: StoreSession,
): Promise<Record<string, unknown>> => {
  switch (type) {
    case 'app.rollback': {
      await session.catchUp();
      const image = await previousRelease(session.readModel, { environment: env, app: handle });
      return image ? { previousImage: image } : {};
    }
    default:
      return placementDefaults(world.cloud, type, handle);
  }
};

const definitionOf = (world: SimulatedWorld, type: string) =>
  catalogOperations(world.cloud).find((d) => d.type === type) as
    OperationDefinition<unknown> | undefined;

/**
 * Starts a catalog operation on the simulated cloud and follows its log to the end. A stop
 * signal (Ctrl-C) requests cancellation and waits for the rollback; a second one leaves at once.
 */
export const runCommand = async (type: string, options: RunOptions, io: CliIo) => {
  const resource = parseResource(options.resource);
  const faults = options.fault.map(parseFault);
  const speed = parseSpeed(options.speed);
  const session = await openStoreSession(options, { command: 'run', writes: true });
  let world: SimulatedWorld;
  try {
    world = openSimulatedWorld({
      environment: options.env,
      store: session.stores.eventStore,
      speed,
      faults,
      onStoreOutage: storeOutagePrinter(io, options.json),
      storeOutageMs: storeOutageMsOf(io.env),
      ...(options.cloud ? { cloudFile: options.cloud } : {}),
    });
  } catch (error) {
    await session.close();
    throw error;
  }
  let operationId: string | undefined;
  const removeHandlers = onStopSignals(io, {
    stop: () => {
      if (!operationId) return;
      void world.engine.cancel(operationId, { user: options.user }).catch(() => undefined);
    },
    leave: () => {
      println(
        io.err,
        `Left without waiting: operation ${operationId ?? '(none)'} is still running.`,
      );
      world.abandon();
    },
  });
  try {
    for (const recovered of await world.recoverAbandoned()) {
      println(
        io.err,
        `Recovered an operation a stopped opledger process left: ${recovered.summary}`,
      );
    }
    const definition = definitionOf(world, type);
    const base = {
      ...paramsFromResource(world.cloud, type, options.env, resource),
      ...(definition ? await defaultsFor(type, options.env, resource.handle, world, session) : {}),
    };
    const params = await parseParams(options.param, definition?.params, base);
    if (definition) checkResource(type, options.env, resource, params);
    const result = await leaveForRecoveryIfStoreGone(world, () =>
      startAndFollow(
        world,
        {
          type,
          environment: options.env,
          resource,
          user: options.user,
          params,
          ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
        },
        io,
        { json: options.json, started: (id) => (operationId = id) },
      ),
    );
    if (options.json) io.out.write(`${JSON.stringify({ kind: 'result', ...result })}\n`);
    else println(io.err, result.summary);
    return result.status === 'succeeded' ? EXIT_OK : EXIT_FAILED;
  } finally {
    removeHandlers();
    await world.close();
    await session.close();
  }
};
