import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLocalInfrastructure,
  publishAppImage,
  publishPostgresImage,
  type AppImageOptions,
  type LocalInfrastructure,
} from '../../src/adapters/local/index.js';
import { createInMemoryEventStore } from '../../src/adapters/memory/index.js';
import { catalogOperations } from '../../src/cli/catalog-operations.js';
import type { EventStore } from '../../src/domain/event-store.js';
import { createEngine, type Engine, type OperationRequest } from '../../src/engine/engine.js';
import type { OperationResult } from '../../src/engine/operation-result.js';

export const ENV = 'local';
export const USER = 'alice@example.com';

/** Drain, stop timeout and health-check polling short enough for tests, long enough to matter. */
export const APP_TIMINGS = { drainMs: 1_000, stopTimeoutMs: 3_000, healthCheckIntervalMs: 100 };

export interface LocalWorld {
  root: string;
  infra: LocalInfrastructure;
  store: EventStore;
  engine: Engine;
  /** Starts an operation in `ENV` as `USER`; the result is awaited by the caller. */
  start(
    type: string,
    resource: { type: string; handle: string },
    params: Record<string, unknown>,
  ): ReturnType<Engine['start']>;
  run(
    type: string,
    resource: { type: string; handle: string },
    params: Record<string, unknown>,
  ): Promise<OperationResult>;
  /** Stops every process and proxy, shuts the engine down, removes the folder. */
  close(): Promise<void>;
}

/**
 * A local infrastructure in a temporary folder, with the sample app's images in the Docker Hub
 * registry folder and, on request, the PostgreSQL image; an engine with the whole catalog on an
 * in-memory store and the system clock.
 */
export const openLocalWorld = async (
  options: { images?: Record<string, AppImageOptions>; postgres?: boolean } = {},
): Promise<LocalWorld> => {
  const root = await mkdtemp(join(tmpdir(), 'opledger-local-'));
  const infra = await createLocalInfrastructure({ root });
  const store = createInMemoryEventStore();
  const engine = createEngine({ store, operations: catalogOperations(infra, APP_TIMINGS) });
  let closed = false;
  const world: LocalWorld = {
    root,
    infra,
    store,
    engine,
    start: (type, resource, params) =>
      engine.start({ type, environment: ENV, resource, user: USER, params } as OperationRequest),
    run: async (type, resource, params) => (await world.start(type, resource, params)).result,
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await engine.shutdown();
      } finally {
        await infra.close();
        await rm(root, { recursive: true, force: true });
      }
    },
  };
  try {
    for (const [ref, behaviour] of Object.entries(options.images ?? {})) {
      await publishAppImage(infra.registries['docker-hub'], ref, behaviour);
    }
    if (options.postgres) await publishPostgresImage(infra.registries['docker-hub']);
  } catch (error) {
    await world.close();
    throw error;
  }
  return world;
};

/** The error of a failed operation, for an assertion message that says what went wrong. */
export const explain = (result: OperationResult) =>
  JSON.stringify({ status: result.status, summary: result.summary, error: result.error });
