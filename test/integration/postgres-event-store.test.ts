import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createPostgresEventStore,
  createPostgresReadStore,
} from '../../src/adapters/postgres/index.js';
import { ConcurrencyError, InvalidEventError, StoredEventError } from '../../src/domain/errors.js';
import type { EventStore } from '../../src/domain/event-store.js';
import {
  createEngine,
  createInMemoryEventStore,
  createInMemoryReadStore,
  type ReadStore,
} from '../../src/index.js';
import { createProjector } from '../../src/projections/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { useTestDatabase } from '../support/postgres-database.js';
import { event, record, waitFor } from '../support/postgres-recording.js';
import { catalog } from '../support/projections.js';

const database = useTestDatabase();

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const eventStore = (schema: string, connectionString = database.url): EventStore => {
  const store = createPostgresEventStore({ connectionString }, { schema, pollIntervalMs: 50 });
  cleanups.push(() => store.close());
  return store;
};

const failureOf = (attempt: Promise<unknown>): Promise<unknown> =>
  attempt.then(
    () => {
      throw new Error('expected a failure, but the call succeeded');
    },
    (e: unknown) => e,
  );

describe('stored data that is not what append_events writes', () => {
  it.each([
    [
      'metadata that is not an object',
      `'{}'::jsonb, '"just a string"'::jsonb, 1`,
      /metadata is string/,
    ],
    ['metadata that is an array', `'{}'::jsonb, '[1]'::jsonb, 1`, /metadata is an array/],
    ['a negative version', `'{}'::jsonb, NULL, -1`, /version is not a non-negative integer/],
  ])(
    'fails reads with a StoredEventError naming stream and position: %s',
    async (_, values, problem) => {
      const schema = database.uniqueSchema('corrupt');
      const store = eventStore(schema);
      await store.append('fine', [event('Fine')]);
      const live = record(store.subscribe());
      cleanups.push(async () => live.subscription.unsubscribe());
      await waitFor(() => live.events.length === 1, 'the good event');
      await database.query(
        `INSERT INTO "${schema}".events (global_position, stream_name, stream_revision, type, data, metadata, version, recorded_at)
       VALUES (2, 'edited-by-hand', 0, 'Edited', ${values}, now())`,
      );

      // Each read starts when awaited: started together, the second's rejection would wait
      // unhandled while the first is awaited, which vitest reports as an error under load.
      for (const read of [() => store.readAll(), () => store.readStream('edited-by-hand')]) {
        const error = await failureOf(read());
        expect(error).toBeInstanceOf(StoredEventError);
        expect(error).toMatchObject({
          code: 'INVALID_STORED_EVENT',
          stream: 'edited-by-hand',
          position: 2n,
          revision: 0n,
        });
        expect((error as Error).message).toMatch(problem);
      }
      // A subscriber is told, instead of skipping the event silently.
      await store.append('fine', [event('Later')]);
      await waitFor(() => live.error !== undefined, 'the subscription to fail');
      expect(live.error).toBeInstanceOf(StoredEventError);
      expect(live.events.map((e) => e.type)).toEqual(['Fine']);
      // Good rows around it stay readable.
      expect((await store.readAll({ maxCount: 1 })).map((e) => e.type)).toEqual(['Fine']);
    },
  );
});

describe('append', () => {
  it('maps a unique-violation race with a writer that bypassed the lock to ConcurrencyError, writing nothing', async () => {
    const schema = database.uniqueSchema('race');
    const store = eventStore(schema);
    await store.headPosition();
    const rogue = new pg.Client({ connectionString: database.url });
    await rogue.connect();
    cleanups.push(() => rogue.end());
    await rogue.query('BEGIN');
    await rogue.query(
      `INSERT INTO "${schema}".events (global_position, stream_name, stream_revision, type, version, data, recorded_at)
       VALUES (100, 'order-1', 0, 'Rogue', 1, '{}', now())`,
    );
    // The append cannot see the uncommitted row, passes its check, and waits on the unique index.
    const attempt = failureOf(
      store.append('order-1', [event('Mine'), event('Mine')], { expectedVersion: 'no_stream' }),
    );
    await waitFor(
      async () => (await database.sessionsWaitingFor('transactionid')) === 1,
      'the append to wait on the unique index',
    );
    await rogue.query('COMMIT');
    const error = await attempt;
    expect(error).toBeInstanceOf(ConcurrencyError);
    expect(error).toMatchObject({ stream: 'order-1', actual: 0n });
    expect((await store.readAll()).map((e) => e.type)).toEqual(['Rogue']);
  });

  it('refuses data PostgreSQL cannot store as JSON with InvalidEventError, writing nothing', async () => {
    const store = eventStore(database.uniqueSchema('invalid'));
    const nul = await failureOf(store.append('s', [event('Nul', { text: 'a\u0000b' })]));
    expect(nul).toBeInstanceOf(InvalidEventError);
    expect((nul as Error).message).toMatch(/NUL/);
    const big = await failureOf(store.append('s', [event('BigInt', { n: 1n })]));
    expect(big).toBeInstanceOf(InvalidEventError);
    const version = await failureOf(store.append('s', [{ type: 'V', version: 1.5, data: {} }]));
    expect(version).toBeInstanceOf(InvalidEventError);
    expect(await store.readAll()).toEqual([]);
    expect((await store.append('s', [event('Ok')])).lastPosition).toBe(1n);
  });

  it('explains that appends need READ COMMITTED when the role defaults to another isolation', async () => {
    const pool = new pg.Pool({
      connectionString: database.url,
      options: '-c default_transaction_isolation=repeatable\\ read',
    });
    pool.on('error', () => undefined);
    cleanups.push(() => pool.end());
    const store = createPostgresEventStore(
      { pool },
      { schema: database.uniqueSchema('isolation') },
    );
    cleanups.push(() => store.close());
    const error = await failureOf(store.append('s', [event('E')]));
    expect((error as Error).message).toMatch(/READ COMMITTED/);
    expect(await store.readAll()).toEqual([]);
  });
});

describe('connections and handles', () => {
  it('releases the listening connection on unsubscribe, and every connection and timer on close', async () => {
    const schema = database.uniqueSchema('handles');
    const appName = `handles_${schema}`;
    const connections = async (listening = false) =>
      (
        await database.query(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1 ${listening ? `AND query LIKE 'LISTEN %'` : ''}`,
          [appName],
        )
      ).length;
    // A poll interval no other timer in this process uses, to tell the store's timers apart.
    const POLL_MS = 47;
    const intervals = new Set<unknown>();
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const storeIntervals = () =>
      setIntervalSpy.mock.calls.flatMap(([, ms], i) =>
        ms === POLL_MS ? [setIntervalSpy.mock.results[i]?.value] : [],
      );
    const clearIntervalSpy = vi.spyOn(globalThis, 'clearInterval');
    cleanups.push(async () => vi.restoreAllMocks());

    const store = createPostgresEventStore(
      { connectionString: `${database.url}?application_name=${appName}` },
      { schema, pollIntervalMs: POLL_MS },
    );
    await store.append('a', [event('A')]);
    const first = record(store.subscribe());
    await waitFor(async () => (await connections(true)) === 1, 'a listening connection');
    for (const timer of storeIntervals()) intervals.add(timer);
    expect(intervals.size).toBe(1);
    first.subscription.unsubscribe();
    await waitFor(async () => (await connections(true)) === 0, 'the listener to be released');
    expect(clearIntervalSpy.mock.calls.map(([t]) => t)).toContain([...intervals][0]);

    const second = record(store.subscribe({ after: 'end' }));
    await waitFor(async () => (await connections(true)) === 1, 'listening again');
    await store.close();
    expect(second.completed).toBe(true);
    await waitFor(async () => (await connections()) === 0, 'every connection to close');
    for (const timer of storeIntervals()) intervals.add(timer);
    expect(intervals.size).toBe(2);
    const cleared = new Set(clearIntervalSpy.mock.calls.map(([t]) => t));
    expect([...intervals].filter((t) => !cleared.has(t as never))).toEqual([]);
  });

  it("leaves a caller's pool open, and ignores type parsers configured on it", async () => {
    // A pool that would turn every value into nonsense, had the store used its parsers.
    const pool = new pg.Pool({
      connectionString: database.url,
      types: { getTypeParser: () => () => 'nonsense' },
    });
    pool.on('error', () => undefined);
    cleanups.push(() => pool.end());
    const schema = database.uniqueSchema('callers_pool');
    const store = createPostgresEventStore({ pool }, { schema });
    const reads = createPostgresReadStore({ pool }, { schema });
    await store.append('s', [{ type: 'T', version: 7, data: { n: 1 }, metadata: { m: true } }]);
    await reads.transaction('p', 2n ** 60n, async () => undefined);
    expect(await store.readStream('s')).toMatchObject([
      { type: 'T', version: 7, data: { n: 1 }, metadata: { m: true }, globalPosition: 1n },
    ]);
    expect(await reads.checkpoint('p')).toBe(2n ** 60n);
    await store.close();
    await reads.close();
    const { rows } = await pool.query({ text: 'SELECT 1 AS one', types: pg.types });
    expect(rows).toEqual([{ one: 1 }]);
  });
});

describe('with the engine and the projector', () => {
  const scenario = async (store: EventStore, readStore: ReadStore) => {
    const engine = createEngine({
      store,
      operations: catalog(),
      clock: createVirtualClock('2026-03-02T09:00:00.000Z'),
      ids: createSequentialIds(),
    });
    const projector = createProjector({ store, readStore, batchSize: 3 });
    await (
      await engine.start(request({ image: 'v1' }))
    ).result;
    await projector.start();
    await (
      await engine.start(request({ image: 'v2', fail: 'GET / answered 503' }))
    ).result;
    await (
      await engine.start({
        ...request({}),
        type: 'provision',
        resource: { type: 'database', handle: 'db' },
      })
    ).result;
    await projector.waitFor(await store.headPosition());
    await projector.stop();
    const ids = ['op-000001', 'op-000002', 'op-000003'];
    return {
      list: await readStore.listOperations({ environment: 'production', limit: 10, offset: 0 }),
      logs: await Promise.all(ids.map((id) => readStore.logLines(id))),
      resources: await readStore.resources('production'),
      environment: await readStore.environment('production'),
      checkpoint: await readStore.checkpoint('operations'),
    };
  };
  const request = (params: Record<string, unknown>) => ({
    type: 'deploy',
    environment: 'production',
    resource: { type: 'app', handle: 'web' },
    user: 'ada@example.com',
    params,
  });

  it('builds the same read model as the in-memory stores, events and read models in one schema', async () => {
    const schema = database.uniqueSchema('engine');
    const store = eventStore(schema);
    const readStore = createPostgresReadStore({ connectionString: database.url }, { schema });
    cleanups.push(() => readStore.close());

    const onPostgres = await scenario(store, readStore);
    const inMemory = await scenario(createInMemoryEventStore(), createInMemoryReadStore());
    expect(onPostgres.list.total).toBe(3);
    expect(onPostgres.logs.every((lines) => lines.length > 0)).toBe(true);
    expect(onPostgres).toEqual(inMemory);
    expect(onPostgres.checkpoint).toBe(await store.headPosition());
  });
});
