import { createSimulatedCloud } from '../../src/adapters/infrastructure/index.js';
import { createInMemoryReadStore } from '../../src/adapters/memory/in-memory-read-store.js';
import {
  appDeploy,
  appDeprovision,
  appProvision,
  databaseDeprovision,
  databaseProvision,
  environmentDeprovision,
  environmentProvision,
  type EnvironmentCatalogOptions,
} from '../../src/catalog/index.js';
import { createEngine, createInMemoryEventStore } from '../../src/index.js';
import { createProjector } from '../../src/projections/projector.js';
import { createReadModel } from '../../src/projections/read-model.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';

export const ENV = 'staging';
const USER = 'ada@example.com';

/** Params of each kind of resource; apps and databases are told apart by their handle's kind. */
const paramsOf = (kind: string, handle: string): Record<string, unknown> => {
  if (kind === 'environment') return { environment: ENV };
  if (kind === 'app') return { app: handle, image: `${handle}:v1` };
  return {
    databaseId: handle,
    volumeId: `v-${handle}`,
    containerId: `c-${handle}`,
    instanceId: `${handle}-host`,
    image: 'postgres:16',
    sizeGb: 5,
  };
};

/**
 * A simulated cloud and an engine with the environment, app and database lifecycle on it, in
 * environment staging: app `web` and database `db` unless another handle is given.
 */
export const environmentWorld = (options: EnvironmentCatalogOptions = {}) => {
  const clock = createVirtualClock();
  const cloud = createSimulatedCloud({ seed: 7, clock });
  const store = createInMemoryEventStore();
  const engine = createEngine({
    store,
    clock,
    ids: createSequentialIds('op-'),
    operations: [
      environmentProvision(cloud),
      environmentDeprovision(cloud, options),
      appProvision(cloud),
      appDeploy(cloud),
      appDeprovision(cloud),
      databaseProvision(cloud),
      databaseDeprovision(cloud),
    ],
  });
  const request = (type: string, extra: { idempotencyKey?: string; handle?: string } = {}) => {
    const [kind = ''] = type.split('.');
    const { handle: given, ...rest } = extra;
    const handle = kind === 'environment' ? ENV : (given ?? (kind === 'app' ? 'web' : 'db'));
    return {
      type,
      environment: ENV,
      resource: { type: kind, handle },
      user: USER,
      params: paramsOf(kind, handle),
      ...rest,
    };
  };
  const run = async (type: string, extra: { idempotencyKey?: string; handle?: string } = {}) =>
    (await engine.start(request(type, extra))).result;
  /** The environment's Activity as the read model builds it from the whole store. */
  const activity = async () => {
    const readStore = createInMemoryReadStore();
    await createProjector({ store, readStore }).catchUp();
    const page = await createReadModel({ readStore }).listOperations({
      environment: ENV,
      limit: 500,
    });
    return page.items.map((op) => `${op.type} ${op.status}`).reverse();
  };
  return { clock, cloud, store, engine, request, run, activity };
};
