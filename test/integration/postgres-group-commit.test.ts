import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventStoreMigrations } from '../../src/adapters/postgres/event-store-schema.js';
import { createPostgresEventStore } from '../../src/adapters/postgres/index.js';
import { runMigrations } from '../../src/adapters/postgres/migrations.js';
import { ConcurrencyError, InvalidEventError } from '../../src/domain/errors.js';
import type { EventStore, RecordedEvent } from '../../src/domain/event-store.js';
import { expectNothingAckedLost, killWriters, spawnWriter } from '../support/group-commit-crash.js';
import { useTestDatabase } from '../support/postgres-database.js';

const child = join(import.meta.dirname, 'fixtures', 'pg-group-commit-child.ts');

const database = useTestDatabase();
let pool: pg.Pool;
/** The statements sent through `pool.query`, by the name of the function they call. */
let sent: string[] = [];
beforeAll(() => {
  pool = new pg.Pool({ connectionString: database.url, max: 10 });
  pool.on('error', () => undefined);
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
    const text = (args[0] as { text?: string }).text ?? args[0];
    const called = typeof text === 'string' ? /(append_batch|append_events)/.exec(text) : null;
    if (called) sent.push(called[1]!);
    return query(...args);
  };
});
afterAll(() => pool.end());

const children: ChildProcess[] = [];
let store: EventStore | undefined;
let dir: string | undefined;
afterEach(async () => {
  killWriters(children);
  await store?.close();
  store = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const event = (type: string, data: unknown = {}) => ({ type, version: 1, data });

const newStore = async (): Promise<EventStore> => {
  store = createPostgresEventStore({ pool }, { schema: database.uniqueSchema('group') });
  await store.append('warm-up', [event('W')]);
  sent = [];
  return store;
};

const describeLog = (all: readonly RecordedEvent[]) =>
  all.map((e) => `${e.streamName}@${e.streamRevision}:${e.type}`);

type Outcome =
  | { id: string; ok: true; results: Array<{ revision: string; position: string }> }
  | { id: string; ok: false; code: string; stream?: string; actual?: string };

/** Starts a writer process; its `ready` resolves once it has connected and appended once. */
const startWriter = (args: string[]) => spawnWriter(child, args, children);

describe('PostgreSQL group commit', () => {
  it('sends the appends made while one is in flight in one call, positions in call order', async () => {
    const s = await newStore();
    const together = await Promise.all(
      Array.from({ length: 40 }, (_, i) => s.append(`s-${i % 4}`, [event(`T${i}`)])),
    );
    // The first went alone at once; the 39 made while it was in flight, in one batch.
    expect(sent).toEqual(['append_events', 'append_batch']);
    expect(together.map((r) => r.lastPosition)).toEqual(together.map((_, i) => BigInt(i + 2)));
    expect(together.map((r) => r.nextExpectedRevision)).toEqual(
      together.map((_, i) => BigInt(Math.floor(i / 4))),
    );
    const all = await s.readAll();
    expect(all.slice(1).map((e) => e.type)).toEqual(together.map((_, i) => `T${i}`));

    // Alone, an append is sent at once through append_events, as before group commit.
    sent = [];
    for (let i = 0; i < 3; i++) await s.append('alone', [event(`A${i}`)]);
    expect(sent).toEqual(['append_events', 'append_events', 'append_events']);
  });

  it('fails only the append whose expected version does not hold, not the rest of its batch', async () => {
    const s = await newStore();
    const outcomes = await Promise.allSettled([
      s.append('first', [event('F')]),
      s.append('a', [event('A0')], { expectedVersion: 'no_stream' }),
      s.append('a', [event('A-rival')], { expectedVersion: 'no_stream' }),
      s.append('b', [event('B0'), event('B1')]),
      s.append('a', [event('A1')], { expectedVersion: 0n }),
      s.appendToStreams!([
        { stream: 'c', events: [event('C-never')] },
        { stream: 'b', events: [event('B-never')], expectedVersion: 'no_stream' },
      ]),
      // The same stream twice in one unit: the second write is checked after the first.
      s.appendToStreams!([
        { stream: 'd', events: [event('D0')], expectedVersion: 'no_stream' },
        { stream: 'd', events: [event('D1')], expectedVersion: 0n },
        { stream: 'b', events: [], expectedVersion: 1n },
      ]),
      s.append('c', [event('C0')], { expectedVersion: 'no_stream' }),
      s.append('b', [], { expectedVersion: 'stream_exists' }),
      s.append('a', [event('A-stale')], { expectedVersion: 0n }),
    ]);
    expect(sent).toEqual(['append_events', 'append_batch']);
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
    ]);
    const reason = (i: number) => (outcomes[i] as PromiseRejectedResult).reason as unknown;
    expect(reason(2)).toBeInstanceOf(ConcurrencyError);
    expect(reason(2)).toMatchObject({ stream: 'a', actual: 0n });
    expect(reason(5)).toMatchObject({ stream: 'b', expected: "'no_stream'", actual: 1n });
    expect(reason(9)).toMatchObject({ stream: 'a', actual: 1n });
    const value = (i: number) => (outcomes[i] as PromiseFulfilledResult<unknown>).value;
    expect(value(6)).toEqual([
      { nextExpectedRevision: 0n, lastPosition: 7n },
      { nextExpectedRevision: 1n, lastPosition: 8n },
      { nextExpectedRevision: 1n, lastPosition: 5n },
    ]);
    expect(value(8)).toEqual({ nextExpectedRevision: 1n, lastPosition: 5n });
    const all = await s.readAll();
    expect(describeLog(all)).toEqual([
      'warm-up@0:W',
      'first@0:F',
      'a@0:A0',
      'b@0:B0',
      'b@1:B1',
      'a@1:A1',
      'd@0:D0',
      'd@1:D1',
      'c@0:C0',
    ]);
    expect(all.map((e) => e.globalPosition)).toEqual(all.map((_, i) => BigInt(i + 1)));
  });

  it('fails only the append whose data PostgreSQL refuses, not the rest of its batch', async () => {
    const s = await newStore();
    const outcomes = await Promise.allSettled([
      s.append('first', [event('F')]),
      s.append('x', [event('X0')]),
      s.append('bad', [event('Bad', { text: 'a\u0000b' })]),
      s.append('x', [event('X1')], { expectedVersion: 0n }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect((outcomes[2] as PromiseRejectedResult).reason).toBeInstanceOf(InvalidEventError);
    // The batch was refused whole, then each of its appends went again on its own, in order.
    expect(sent).toEqual([
      'append_events',
      'append_batch',
      'append_events',
      'append_events',
      'append_events',
    ]);
    expect(describeLog(await s.readAll())).toEqual([
      'warm-up@0:W',
      'first@0:F',
      'x@0:X0',
      'x@1:X1',
    ]);
  });

  it('upgrades a schema an older opledger made (append_events only) and keeps its events', async () => {
    const schema = database.uniqueSchema('upgrade');
    await runMigrations(pool, schema, 'event-store', eventStoreMigrations(schema).slice(0, 1));
    await pool.query(`SELECT * FROM "${schema}".append_events('old', 'any', NULL, $1::jsonb)`, [
      JSON.stringify([event('Old')]),
    ]);
    store = createPostgresEventStore({ pool }, { schema });
    sent = [];
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        store!.append('old', [event(`New${i}`)], { expectedVersion: BigInt(i) }),
      ),
    );
    expect(sent).toEqual(['append_events', 'append_batch']);
    expect(results.map((r) => r.lastPosition)).toEqual([2n, 3n, 4n, 5n, 6n]);
    expect((await store.readStream('old')).map((e) => e.type)).toEqual([
      'Old',
      'New0',
      'New1',
      'New2',
      'New3',
      'New4',
    ]);
  });

  it('wakes live subscribers once for each event of a batch', async () => {
    const s = await newStore();
    const seen: bigint[] = [];
    const subscription = s.subscribe({ after: 1n }).subscribe((e) => seen.push(e.globalPosition));
    try {
      await Promise.all(Array.from({ length: 30 }, (_, i) => s.append(`s-${i % 3}`, [event('E')])));
      await s.append('last', [event('L')]);
      await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(31);
      expect(seen).toEqual(seen.map((_, i) => BigInt(i + 2)));
    } finally {
      subscription.unsubscribe();
    }
  });

  it('sends what was queued before close() and refuses what comes after', async () => {
    const schema = database.uniqueSchema('group');
    // A pool of the store's own, which close() ends.
    store = createPostgresEventStore({ connectionString: database.url }, { schema });
    await store.append('warm-up', [event('W')]);
    const queued = Array.from({ length: 5 }, (_, i) => store!.append('a', [event(`A${i}`)]));
    const closing = store.close();
    await expect(store.append('a', [event('late')])).rejects.toMatchObject({
      code: 'STORE_CLOSED',
    });
    await expect(Promise.all(queued)).resolves.toHaveLength(5);
    await closing;
    await expect(store.append('a', [event('later')])).rejects.toMatchObject({
      code: 'STORE_CLOSED',
    });
    store = createPostgresEventStore({ pool }, { schema });
    expect((await store.readStream('a')).map((e) => e.type)).toEqual([
      'A0',
      'A1',
      'A2',
      'A3',
      'A4',
    ]);
  });

  it(
    'gives each of the appends racing from four processes at one instant its own right answer',
    { timeout: 120_000 },
    async () => {
      const schema = database.uniqueSchema('race');
      const names = ['p0', 'p1', 'p2', 'p3'];
      const writers = names.map((name) => startWriter(['race', database.url, schema, name]));
      await Promise.all(writers.map((w) => w.ready));
      // One write to each stdin, back to back: the writers fire at the same instant.
      for (const w of writers) w.process.stdin?.end('go\n');
      const how = await Promise.all(writers.map((w) => w.exited));
      expect(how, writers.map((w) => w.errors()).join('\n')).toEqual(names.map(() => '0'));
      const reports = writers.map(
        (w) =>
          JSON.parse(
            w
              .output()
              .split('\n')
              .find((l) => l.startsWith('{'))!,
          ) as {
            batches: number;
            outcomes: Outcome[];
          },
      );
      // The race did go through group commit, in every process.
      for (const r of reports) expect(r.batches).toBeGreaterThan(0);
      const outcomes = reports.flatMap((r) => r.outcomes);

      store = createPostgresEventStore({ pool }, { schema });
      const all = await store.readAll();
      expect(all.map((e) => e.globalPosition)).toEqual(all.map((_, i) => BigInt(i + 1)));
      const byStream = new Map<string, RecordedEvent[]>();
      for (const e of all) byStream.set(e.streamName, [...(byStream.get(e.streamName) ?? []), e]);
      for (const events of byStream.values()) {
        expect(events.map((e) => e.streamRevision)).toEqual(events.map((_, i) => BigInt(i)));
      }
      const stored = new Map<string, RecordedEvent[]>();
      for (const e of all) {
        const id = (e.data as { id?: string }).id;
        if (id) stored.set(id, [...(stored.get(id) ?? []), e]);
      }

      // Every success is stored where its answer says; every refusal is stored nowhere and
      // names the revision the stream really had.
      for (const o of outcomes) {
        const events = stored.get(o.id) ?? [];
        if (o.ok) {
          expect(
            events.map((e) => ({
              revision: e.streamRevision.toString(),
              position: e.globalPosition.toString(),
            })),
            o.id,
          ).toEqual(o.results);
        } else {
          expect(o.code, o.id).toBe('CONCURRENCY_CONFLICT');
          expect(events, o.id).toEqual([]);
          const stream = byStream.get(o.stream!) ?? [];
          expect(stream.length, o.id).toBeGreaterThan(0);
          // Conflicts on claims and lots: the stream holds its one winner's event.
          if (!o.stream!.startsWith('counter')) expect(o.actual, o.id).toBe('0');
        }
      }
      // One winner for each claim and each lot; each ledger holds exactly the lots it won.
      const winners = (prefix: string) =>
        outcomes.filter((o) => o.ok && o.id.split('/')[1]!.startsWith(`${prefix}-`));
      expect(winners('claim')).toHaveLength(12);
      expect(winners('lot')).toHaveLength(12);
      for (let k = 0; k < 12; k++) {
        expect(byStream.get(`claim-${k}`)).toHaveLength(1);
        expect(byStream.get(`lot-${k}`)).toHaveLength(1);
      }
      for (const name of names) {
        const won = winners('lot')
          .filter((o) => o.id.startsWith(`${name}/`))
          .map((o) => o.id);
        const ledger = (byStream.get(`ledger-${name}`) ?? []).map(
          (e) => (e.data as { id: string }).id,
        );
        expect(ledger.sort()).toEqual(won.sort());
      }
      // The shared counter: 4 processes x 4 loops x 6 wins, each at the revision it was told.
      expect(byStream.get('counter')).toHaveLength(names.length * 4 * 6);
      expect(outcomes.filter((o) => !o.ok && o.stream === 'counter').length).toBeGreaterThan(0);
    },
  );

  it(
    'loses nothing acknowledged and leaves no append half-written when SIGKILL lands mid-batch',
    { timeout: 120_000 },
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'opledger-pg-group-commit-crash-'));
      const ackPath = join(dir, 'acks.txt');
      const schema = database.uniqueSchema('crash');
      const ROUNDS = 6;
      let batchesSeen = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const w = startWriter(['crash', database.url, schema, `r${round}`, ackPath]);
        await w.ready;
        // A random moment while 48 appends are in flight, nearly always one batch on the wire.
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 300));
        process.kill(-w.process.pid!, 'SIGKILL');
        expect(await w.exited, w.errors()).toBe('SIGKILL');
        const counts = [...w.output().matchAll(/batches (\d+)/g)].map((m) => Number(m[1]));
        batchesSeen += Math.max(0, ...counts);
      }
      expect(batchesSeen).toBeGreaterThan(0);

      store = createPostgresEventStore({ pool }, { schema });
      // A killed client's last statement may still be finishing on the server: wait for it.
      await expect
        .poll(
          async () =>
            (
              await database.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM pg_stat_activity
                  WHERE datname = current_database() AND query LIKE '%append_%' AND state = 'active'
                    AND pid <> pg_backend_pid()`,
              )
            )[0]!.n,
          { timeout: 10_000 },
        )
        .toBe(0);
      const all = (await store.readAll()).filter((e) => !e.streamName.startsWith('warm-up'));
      const acked = (await readFile(ackPath, 'utf8')).split('\n').filter(Boolean);
      expect(acked.length).toBeGreaterThan(ROUNDS * 10);

      // Positions come from a sequence: holes are allowed, order and wholeness are not.
      expectNothingAckedLost(all, acked, { densePositions: false });
    },
  );
});
