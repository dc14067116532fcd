import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createPostgresEventStore,
  createPostgresReadStore,
  PostgresSchemaTooNewError,
} from '../../src/adapters/postgres/index.js';
import type { EventStore, RecordedEvent } from '../../src/domain/event-store.js';
import type { ReadStore } from '../../src/projections/read-store.js';
import { useTestDatabase } from '../support/postgres-database.js';
import {
  event,
  record,
  seededRandom,
  sleep,
  waitFor,
  type Recording,
} from '../support/postgres-recording.js';

const database = useTestDatabase();

const opened: Array<EventStore | ReadStore> = [];
const recordings: Recording[] = [];
afterEach(async () => {
  for (const r of recordings.splice(0)) r.subscription.unsubscribe();
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

/** Each call opens its own pool: stores built this way talk to PostgreSQL like separate processes. */
const eventStore = (schema: string, pollIntervalMs?: number): EventStore => {
  const store = createPostgresEventStore(
    { connectionString: database.url },
    pollIntervalMs === undefined ? { schema } : { schema, pollIntervalMs },
  );
  opened.push(store);
  return store;
};

const readStore = (schema: string): ReadStore => {
  const store = createPostgresReadStore({ connectionString: database.url }, { schema });
  opened.push(store);
  return store;
};

const recording = (source: Parameters<typeof record>[0]): Recording => {
  const r = record(source);
  recordings.push(r);
  return r;
};

const positions = (events: readonly RecordedEvent[]) => events.map((e) => e.globalPosition);
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => BigInt(i + 1));

const migrationsOf = async (schema: string) =>
  (
    await database.query<{ component: string; version: number }>(
      `SELECT component, version FROM "${schema}".opledger_migrations ORDER BY component, version`,
    )
  ).map((r) => `${r.component}@${r.version}`);

describe('global order under concurrent writers', () => {
  it('gives live subscribers every event of 8 concurrent writers once, in strictly increasing positions', async () => {
    const schema = database.uniqueSchema('ordering');
    const reader = eventStore(schema, 50);
    await reader.headPosition();
    // Joins before any write and sees everything live, only through NOTIFY and polling:
    // no writer shares its pool.
    const live = recording(reader.subscribe({ after: 0n }));
    let lateJoiner: Recording | undefined;

    const WRITERS = 8;
    const APPENDS = 40;
    const written = await Promise.all(
      Array.from({ length: WRITERS }, async (_, writer) => {
        const store = eventStore(schema);
        const random = seededRandom(writer + 1);
        let count = 0;
        for (let i = 0; i < APPENDS; i++) {
          if (random() < 0.5) await sleep(Math.floor(random() * 4));
          const size = 1 + Math.floor(random() * 3);
          const stream = i % 4 === 0 ? 'shared' : `writer-${writer}`;
          await store.append(
            stream,
            Array.from({ length: size }, (_, k) => event('Written', { writer, i, k })),
          );
          count += size;
          // Another subscriber catches up from the start while the writers are still going.
          if (writer === 0 && i === APPENDS / 2) lateJoiner = recording(reader.subscribe());
        }
        return count;
      }),
    );
    const total = written.reduce((a, b) => a + b, 0);

    // Positions are gapless: the head is the number of events written.
    expect(await reader.headPosition()).toBe(BigInt(total));
    await waitFor(
      () => live.events.length >= total && (lateJoiner?.events.length ?? 0) >= total,
      () =>
        `${total} events on both subscriptions (got ${live.events.length} live, ${lateJoiner?.events.length} late)`,
    );
    await sleep(100);

    const all = await reader.readAll();
    expect(positions(all)).toEqual(oneTo(total));
    for (const r of [live, lateJoiner as Recording]) {
      expect(r.error).toBeUndefined();
      expect(positions(r.events)).toEqual(oneTo(total));
      expect(r.events).toEqual(all);
    }
    // Each writer's appends are in its program order.
    for (let writer = 0; writer < WRITERS; writer++) {
      const mine = all
        .map((e) => e.data as { writer: number; i: number; k: number })
        .filter((d) => d.writer === writer)
        .map((d) => d.i * 10 + d.k);
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
      expect(mine).toHaveLength(written[writer] as number);
    }
  });

  it('makes an append wait for an earlier uncommitted one, so no reader sees a later position first', async () => {
    const schema = database.uniqueSchema('commit_order');
    const store = eventStore(schema, 20);
    await store.headPosition();
    const live = recording(store.subscribe());

    // A writer stalled between drawing its position and committing (a slow network, a long
    // transaction around the append): with a sequence, the next append would commit position
    // 2 while 1 is still invisible, and a reader at `position > 0` would skip 1 for good.
    const stalled = new pg.Client({ connectionString: database.url });
    await stalled.connect();
    try {
      await stalled.query('BEGIN');
      const { rows } = await stalled.query<{ out_position: string }>(
        `SELECT out_position FROM "${schema}".append_events('stalled', 'any', NULL, $1::jsonb)`,
        [JSON.stringify([{ type: 'Stalled', version: 1, data: {} }])],
      );
      expect(rows[0]?.out_position).toBe('1');

      let settled = false;
      const next = store.append('next', [event('Next')]).finally(() => (settled = true));
      await waitFor(
        async () => (await database.sessionsWaitingFor('advisory')) === 1,
        'the next append to wait for the append lock',
      );
      expect(settled).toBe(false);
      expect(await store.readAll()).toEqual([]);
      expect(await store.headPosition()).toBe(0n);
      expect(live.events).toEqual([]);

      await stalled.query('COMMIT');
      expect((await next).lastPosition).toBe(2n);
      await waitFor(() => live.events.length >= 2, 'both events');
      expect(live.events.map((e) => [e.type, e.globalPosition])).toEqual([
        ['Stalled', 1n],
        ['Next', 2n],
      ]);
    } finally {
      await stalled.end();
    }
  });
});

describe('live delivery', () => {
  it('delivers through LISTEN/NOTIFY in well under the polling interval', async () => {
    const schema = database.uniqueSchema('latency');
    // Polling every 5 s: anything faster than that came through a notification.
    const reader = eventStore(schema, 5_000);
    const writer = eventStore(schema);
    await writer.headPosition();
    const live = recording(reader.subscribe({ after: 0n }));
    await writer.append('warm-up', [event('WarmUp')]);
    await waitFor(() => live.events.length === 1, 'the warm-up event');

    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const sent = performance.now();
      const { lastPosition } = await writer.append('timed', [event('Timed', { i })]);
      await waitFor(() => live.arrivals.has(lastPosition), `event ${lastPosition}`, 4_000);
      latencies.push((live.arrivals.get(lastPosition) as number) - sent);
    }
    expect(Math.max(...latencies)).toBeLessThan(1_000);
    expect(live.events.map((e) => e.type)).toEqual(['WarmUp', ...latencies.map(() => 'Timed')]);
  });

  it("with after: 'end' includes every append the store starts after subscribe(), even on a cold pool", async () => {
    const schema = database.uniqueSchema('from_now_on');
    await eventStore(schema).append('before', [event('Before')]);
    // A new store each time, with one idle connection, which its listener takes: the head read
    // and the append then each open a connection, and those come up in any order, so the
    // append could commit before the subscriber has read where "now" is.
    for (let i = 0; i < 15; i++) {
      const store = eventStore(schema, 20);
      await store.headPosition();
      const live = recording(store.subscribe({ after: 'end' }));
      const { lastPosition } = await store.append('after', [event('After', { i })]);
      await waitFor(
        () => live.events.length > 0,
        () => `attempt ${i}: the event at ${lastPosition}`,
        3_000,
      );
      expect(live.events.map((e) => e.globalPosition)).toEqual([lastPosition]);
      live.subscription.unsubscribe();
      await store.close();
    }
  });

  it('still delivers by polling when the listening connection is lost, then listens again', async () => {
    const schema = database.uniqueSchema('lost_listener');
    const appName = `listener_${schema}`;
    const reader = createPostgresEventStore(
      { connectionString: `${database.url}?application_name=${appName}` },
      { schema, pollIntervalMs: 100 },
    );
    opened.push(reader);
    const writer = eventStore(schema);
    await writer.headPosition();
    const listeners = async () =>
      (
        await database.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'`,
          [appName],
        )
      ).map((r) => r.pid);

    const live = recording(reader.subscribe());
    await waitFor(async () => (await listeners()).length === 1, 'the listening connection');
    const [first] = await listeners();
    await database.query('SELECT pg_terminate_backend($1)', [first]);

    await writer.append('a', [event('AfterTheLoss')]);
    await waitFor(() => live.events.length === 1, 'the event, by polling', 3_000);
    await waitFor(
      async () => (await listeners()).some((pid) => pid !== first),
      'a new listening connection',
    );
    await writer.append('a', [event('Again')]);
    await waitFor(() => live.events.length === 2, 'the second event');
    expect(live.error).toBeUndefined();
    expect(live.events.map((e) => e.type)).toEqual(['AfterTheLoss', 'Again']);
  });
});

describe('migrations', () => {
  it('are idempotent: a second store on a migrated schema finds its data and migrates nothing', async () => {
    const schema = database.uniqueSchema('twice');
    const first = eventStore(schema);
    await first.append('order-1', [event('Created')]);
    await first.close();

    const second = eventStore(schema);
    expect((await second.readAll()).map((e) => e.type)).toEqual(['Created']);
    await second.append('order-1', [event('Paid')], { expectedVersion: 0n });
    const third = eventStore(schema);
    expect(await third.headPosition()).toBe(2n);
    expect(await migrationsOf(schema)).toEqual(['event-store@1', 'event-store@2', 'event-store@3']);
  });

  it('run safely from several stores at once, event and read stores sharing one schema', async () => {
    const schema = database.uniqueSchema('concurrent');
    // Separate pools: each store finds the schema missing and races to create it.
    const events = Array.from({ length: 4 }, () => eventStore(schema));
    const reads = Array.from({ length: 3 }, () => readStore(schema));
    const results = await Promise.allSettled([
      ...events.map((s) => s.headPosition()),
      ...reads.map((s) => s.checkpoint('operations')),
    ]);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await migrationsOf(schema)).toEqual([
      'event-store@1',
      'event-store@2',
      'event-store@3',
      'read-store@1',
      'read-store@2',
      'read-store@3',
    ]);

    // Events and read models live side by side, each store seeing the other's writes.
    await (events[0] as EventStore).append('a', [event('A')]);
    expect(await (events[3] as EventStore).headPosition()).toBe(1n);
    await (reads[0] as ReadStore).transaction('operations', 1n, async () => undefined);
    expect(await (reads[2] as ReadStore).checkpoint('operations')).toBe(1n);
  });

  it('refuse a schema migrated by a newer opledger', async () => {
    const schema = database.uniqueSchema('newer');
    await eventStore(schema).headPosition();
    await database.query(
      `INSERT INTO "${schema}".opledger_migrations (component, version, name) VALUES ('event-store', 99, 'from the future')`,
    );
    const error: unknown = await eventStore(schema)
      .readAll()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PostgresSchemaTooNewError);
    expect(error).toMatchObject({ code: 'SCHEMA_TOO_NEW', found: 99, supported: 3 });
  });
});
