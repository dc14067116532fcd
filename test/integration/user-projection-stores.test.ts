import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresReadStore } from '../../src/adapters/postgres/index.js';
import { createSqliteReadStore } from '../../src/adapters/sqlite/index.js';
import { createInMemoryReadStore, type ReadStore } from '../../src/index.js';
import {
  createProjection,
  defineProjection,
  type UserProjection,
} from '../../src/projections/index.js';
import { request } from '../support/fixtures.js';
import { useTestDatabase } from '../support/postgres-database.js';
import { projectionSetup } from '../support/projections.js';

const database = useTestDatabase();
let pool: pg.Pool;
let dir: string;
beforeAll(async () => {
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
  pool.on('error', () => undefined);
  dir = await mkdtemp(join(tmpdir(), 'opledger-user-projection-'));
});
afterAll(async () => {
  await pool.end();
  await rm(dir, { recursive: true, force: true });
});

const failures = (version: number, weight = 1) =>
  defineProjection({
    name: 'failures',
    version,
    keyOf: (_e, meta) => meta.operation?.environment,
    initialState: { failed: 0, steps: [] as string[] },
    on: {
      OperationFailed(draft, event) {
        draft.failed += weight;
        draft.steps.push(event.data.failedStep ?? '(none)');
      },
    },
  });

const documents = async <S>(p: UserProjection<S>) => (await p.list({ limit: 500 })).items;

const stores: [string, (name: string) => ReadStore][] = [
  ['sqlite', (name) => createSqliteReadStore({ path: join(dir, `${name}.db`) })],
  [
    'postgres',
    (name) => createPostgresReadStore({ pool }, { schema: database.uniqueSchema(name) }),
  ],
];

describe.each(stores)('user projections on %s', (_, open) => {
  it('catch up, follow live and read back as on the in-memory store; a new version rebuilds', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1', fail: 'boom' } }));
    const readStore = open('live');
    const live = createProjection(failures(1), { store: s.store, readStore, batchSize: 3 });
    await live.start();
    await s.run(request({ environment: 'staging', params: { image: 'v2', fail: 'bang' } }));
    await s.run(request({ params: { image: 'v3' } }));
    await live.waitFor(await s.store.headPosition());
    await live.stop();
    const memory = createProjection(failures(1), {
      store: s.store,
      readStore: createInMemoryReadStore(),
    });
    await memory.catchUp();
    expect(await documents(live)).toEqual(await documents(memory));
    expect(await live.read('production')).toEqual({ failed: 1, steps: ['health check'] });
    expect(Object.isFrozen(await live.read('production'))).toBe(true);

    // Version 2 counts each failure twice: rebuilt from the first event, alone.
    const v2 = createProjection(failures(2, 2), { store: s.store, readStore });
    await v2.catchUp();
    expect(await v2.read('production')).toEqual({ failed: 2, steps: ['health check'] });
    expect(await readStore.projectionVersion('failures')).toBe(2);
    await readStore.close();
  });
});
