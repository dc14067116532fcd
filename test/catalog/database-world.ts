import {
  createSimulatedCloud,
  DEFAULT_CALL_DURATIONS,
  type SimulatedCloud,
} from '../../src/adapters/infrastructure/index.js';
import {
  createEngine,
  createInMemoryEventStore,
  type Engine,
  type EngineOptions,
  type OperationResult,
} from '../../src/index.js';
import {
  createSequentialIds,
  createVirtualClock,
  type VirtualClock,
} from '../../src/testing/index.js';

export const DB = { databaseId: 'db', volumeId: 'v-db', containerId: 'c-db' } as const;
export const OLD = 'i-old';
export const NEW = 'i-new';
export const IMAGE = 'postgres:16';

export interface DatabaseWorld {
  clock: VirtualClock;
  cloud: SimulatedCloud;
  engine: Engine;
  run(type: string, params: Record<string, unknown>): Promise<OperationResult>;
}

/**
 * Database `db` on its 10 GB volume `v-db`, serving from container `c-db` on `i-old`; with
 * `targetExists`, instance `i-new` is up already.
 */
export const setUpDatabase = async (
  cloud: SimulatedCloud,
  options: { targetExists?: boolean } = {},
): Promise<void> => {
  await cloud.compute.ensureInstance({ instanceId: OLD });
  if (options.targetExists) await cloud.compute.ensureInstance({ instanceId: NEW });
  await cloud.containers.pullImage({ instanceId: OLD, image: IMAGE, registry: 'docker-hub' });
  await cloud.volumes.createVolume({ volumeId: DB.volumeId, sizeGb: 10 });
  await cloud.volumes.attachVolume({ volumeId: DB.volumeId, instanceId: OLD });
  await cloud.volumes.mountVolume({ volumeId: DB.volumeId });
  await cloud.databases.createDatabase({ databaseId: DB.databaseId, volumeId: DB.volumeId });
  await cloud.containers.startContainer({
    containerId: DB.containerId,
    instanceId: OLD,
    image: IMAGE,
    volumeId: DB.volumeId,
  });
};

/** A cloud with database `db` serving from container `c-db` on `i-old`, and an engine on the same clock. */
export const databaseWorld = async (
  operations: (cloud: SimulatedCloud) => EngineOptions['operations'],
  options: { seed?: number; targetExists?: boolean } = {},
): Promise<DatabaseWorld> => {
  const clock = createVirtualClock();
  const cloud = createSimulatedCloud({ seed: options.seed ?? 1, clock });
  await setUpDatabase(cloud, options);
  const engine = createEngine({
    store: createInMemoryEventStore(),
    operations: operations(cloud),
    clock,
    ids: createSequentialIds('op-'),
  });
  const run = async (type: string, params: Record<string, unknown>) => {
    const handle = await engine.start({
      type,
      environment: 'production',
      resource: { type: 'database', handle: DB.databaseId },
      user: 'ada@example.com',
      params,
    });
    return handle.result;
  };
  return { clock, cloud, engine, run };
};

/** What "the database is untouched" compares: the database, its volume and its container. */
export const databaseState = (cloud: SimulatedCloud) => {
  const s = cloud.snapshot();
  return {
    database: s.databases[DB.databaseId],
    volume: s.volumes[DB.volumeId],
    container: s.containers[DB.containerId],
  };
};

export const dbDowntime = (cloud: SimulatedCloud) => cloud.downtime().databases[DB.databaseId] ?? 0;

const d = DEFAULT_CALL_DURATIONS;
/** The whole downtime window of a redeploy, from the start of the stop to the end of the start. */
export const REDEPLOY_WINDOW_MS =
  d.stopContainer +
  d.unmountVolume +
  d.detachVolume +
  d.attachVolume +
  d.mountVolume +
  d.startContainer;
export const RESIZE_WINDOW_MS = REDEPLOY_WINDOW_MS + d.resizeVolume;

/** A volume is never attached twice without a detach between, and attaches follow detaches. */
export const attachmentsAlternate = (cloud: SimulatedCloud): boolean => {
  let attached = false; // the timeline starts before the world's own attach
  for (const e of cloud.timeline()) {
    if (e.subject !== DB.volumeId) continue;
    if (e.kind === 'volume-attached') {
      if (attached) return false;
      attached = true;
    } else if (e.kind === 'volume-detached') {
      if (!attached) return false;
      attached = false;
    }
  }
  return true;
};
