import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteEventStore, createSqliteReadStore } from '../../src/adapters/sqlite/index.js';
import {
  createEngine,
  createInMemoryReadStore,
  type EventStore,
  type ReadStore,
} from '../../src/index.js';
import { createProjector, OPERATIONS_PROJECTION } from '../../src/projections/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { catalog } from '../support/projections.js';

const ENVIRONMENTS = ['production', 'staging'];

/** Everything the read side answers about the environments, in a comparable form. */
const snapshot = async (readStore: ReadStore) => {
  const out: Record<string, unknown> = {
    checkpoint: await readStore.checkpoint(OPERATIONS_PROJECTION),
  };
  for (const env of ENVIRONMENTS) {
    const list = await readStore.listOperations({ environment: env, limit: 500, offset: 0 });
    const report = [];
    for await (const r of readStore.operationsCreatedBetween(env, '2026-01-01', '2027-01-01')) {
      report.push(r);
    }
    out[env] = {
      environment: await readStore.environment(env),
      resources: await readStore.resources(env),
      list,
      report,
      dates: (await readStore.operationDates(env)).sort(),
      logs: await Promise.all(list.items.map((o) => readStore.logLines(o.id))),
    };
  }
  return out;
};

const request = (type: string, resource: { type: string; handle: string }, params = {}) => ({
  type,
  environment: resource.type === 'environment' ? resource.handle : 'production',
  resource,
  user: 'ada@example.com',
  params,
});

let dir: string | undefined;
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const openStores = (path: string) => {
  const store = createSqliteEventStore({ path, pollIntervalMs: 10 });
  const readStore = createSqliteReadStore({ path });
  cleanups.push(async () => {
    await readStore.close();
    await store.close();
  });
  return { store, readStore };
};

const engineOn = (store: EventStore, idPrefix: string) =>
  createEngine({
    store,
    operations: catalog(),
    clock: createVirtualClock('2026-03-02T09:00:00.000Z'),
    ids: createSequentialIds(idPrefix),
  });

describe('the projector on SQLite (event store and read store in one file)', () => {
  it('builds the read model a rebuild gives, and keeps it across reopening', async () => {
    dir = await mkdtemp(join(tmpdir(), 'opledger-sqlite-projector-'));
    const path = join(dir, 'opledger.db');
    const { store, readStore } = openStores(path);
    const engine = engineOn(store, 'op-');
    const projector = createProjector({ store, readStore, batchSize: 7 });
    await projector.start();
    cleanups.push(() => projector.stop());

    const run = async (req: ReturnType<typeof request>) =>
      (await engine.start(req as never)).result;
    const web = { type: 'app', handle: 'web' };
    await run(request('provision', web));
    await run(request('deploy', web, { image: 'v1' }));
    const failed = await run(request('deploy', web, { image: 'v2', fail: 'GET / answered 503' }));
    await run(request('restart', web));
    await run(request('provision', { type: 'database', handle: 'db' }));
    await run(request('deploy', { type: 'app', handle: 'web' }, { image: 'v3' }));
    await run(request('provision', { type: 'environment', handle: 'staging' }));
    await run(request('deprovision', { type: 'environment', handle: 'staging' }));
    expect(failed.status).toBe('failed');

    const head = await store.headPosition();
    await projector.waitFor(head);
    const live = await snapshot(readStore);
    expect(live.checkpoint).toBe(head);
    const production = live.production as {
      list: { total: number };
      logs: { message: string }[][];
    };
    expect(production.list.total).toBe(6);
    expect(production.logs.flat().map((l) => l.message)).toContain(
      'Rollback succeeded: everything was restored to the way it was before the operation.',
    );
    expect(live.staging).toMatchObject({
      environment: { status: 'deprovisioned' },
      list: { total: 0 },
    });

    // The same events projected into memory give the same answers.
    const reference = createInMemoryReadStore();
    await createProjector({ store, readStore: reference }).catchUp();
    expect(await snapshot(reference)).toEqual(live);

    await projector.stop();
    expect(await projector.rebuild()).toBe(head);
    expect(await snapshot(readStore)).toEqual(live);
    const events = await store.readAll();
    await engine.shutdown();

    // New store objects on the same file: nothing lost, the checkpoint where it was.
    const again = openStores(path);
    expect(await again.store.readAll()).toEqual(events);
    expect(await snapshot(again.readStore)).toEqual(live);
    const resumed = createProjector({ store: again.store, readStore: again.readStore });
    expect(await resumed.lag()).toBe(0n);

    const later = engineOn(again.store, 'later-');
    await (
      await later.start(request('deploy', web, { image: 'v4' }) as never)
    ).result;
    expect(await resumed.catchUp()).toBe(await again.store.headPosition());
    const after = await again.readStore.listOperations({
      environment: 'production',
      limit: 500,
      offset: 0,
    });
    expect(after.total).toBe(7);
    expect(after.items.map((o) => o.id)).toContain('later-000001');
    expect(await again.readStore.resource('production', 'app', 'web')).toMatchObject({
      release: 'v4',
      lastOperationId: 'later-000001',
    });
    await later.shutdown();
  });
});
