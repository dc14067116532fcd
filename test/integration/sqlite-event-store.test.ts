import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subscription } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createSqliteEventStore,
  createSqliteReadStore,
  SchemaVersionError,
} from '../../src/adapters/sqlite/index.js';
import { openDatabase } from '../../src/adapters/sqlite/driver.js';
import {
  ConcurrencyError,
  InvalidEventError,
  StoreClosedError,
  StoredEventError,
} from '../../src/domain/errors.js';
import type { EventData, EventStore, RecordedEvent } from '../../src/domain/event-store.js';
import type { ReadStore } from '../../src/projections/read-store.js';

const event = (type: string, data: unknown = {}): EventData => ({ type, version: 1, data });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves once `condition` holds; fails loudly after `ms`. */
const eventually = async (condition: () => boolean, what: string, ms = 3_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(5);
  }
};

const rejection = (attempt: Promise<unknown>): Promise<unknown> =>
  attempt.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );

const pollingTimers = () =>
  process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

let dir: string;
const opened: Array<EventStore | ReadStore> = [];
const raws: Database.Database[] = [];
const subscriptions: Subscription[] = [];

const open = (options: Parameters<typeof createSqliteEventStore>[0]) => {
  const store = createSqliteEventStore(options);
  opened.push(store);
  return store;
};
const raw = (path: string, options?: Database.Options) => {
  const db = new Database(path, options);
  raws.push(db);
  return db;
};
const record = (store: EventStore, after?: bigint | 'end') => {
  const seen: RecordedEvent[] = [];
  const state = { error: undefined as unknown, completed: false };
  const subscription = store.subscribe(after === undefined ? {} : { after }).subscribe({
    next: (e) => seen.push(e),
    error: (e: unknown) => (state.error = e),
    complete: () => (state.completed = true),
  });
  subscriptions.push(subscription);
  return { seen, state, subscription };
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'opledger-sqlite-store-'));
});

afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  for (const s of opened.splice(0)) await s.close();
  for (const db of raws.splice(0)) if (db.open) db.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the SQLite event store', () => {
  it('creates its folder, file and schema on first use, in WAL mode, with a schema version', async () => {
    const path = join(dir, 'nested', 'deeper', 'events.db');
    const store = open({ path });
    await store.append('orders-1', [event('Created')]);
    expect(existsSync(path)).toBe(true);
    const db = raw(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT component, version FROM opledger_schema_version').all()).toEqual([
      { component: 'event-store', version: 1 },
    ]);
    const columns = db.prepare("SELECT name FROM pragma_table_info('opledger_events')").pluck();
    expect(columns.all()).toEqual([
      'position',
      'stream',
      'revision',
      'type',
      'version',
      'data',
      'metadata',
      'recorded_at',
    ]);
    const unique = (db.pragma('index_list(opledger_events)') as { name: string; unique: number }[])
      .filter((i) => i.unique === 1)
      .map((i) => db.prepare(`SELECT name FROM pragma_index_info('${i.name}')`).pluck().all());
    expect(unique).toContainEqual(['stream', 'revision']);
  });

  it('opens its connections in WAL mode, with a busy timeout and the chosen durability', () => {
    const full = openDatabase(join(dir, 'full.db'), { busyTimeoutMs: 1234, synchronous: 'full' });
    const normal = openDatabase(join(dir, 'normal.db'), {
      busyTimeoutMs: 50,
      synchronous: 'normal',
    });
    raws.push(full, normal);
    expect(full.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(full.pragma('busy_timeout', { simple: true })).toBe(1234);
    expect(full.pragma('synchronous', { simple: true })).toBe(2);
    expect(normal.pragma('synchronous', { simple: true })).toBe(1);
  });

  it('keeps events across reopening, and goes on from where it was', async () => {
    const path = join(dir, 'events.db');
    const at = new Date('2026-03-02T09:00:00.123Z');
    const first = open({ path, now: () => at });
    await first.append('a', [event('A0', { n: 1 }), event('A1', { big: 'é🚀' })]);
    await first.append('b', [{ type: 'B0', version: 3, data: [1, 2], metadata: { by: 'u' } }]);
    const before = await first.readAll();
    await first.close();

    const second = open({ path });
    expect(await second.readAll()).toEqual(before);
    expect(before[0]?.recordedAt.toISOString()).toBe(at.toISOString());
    expect(await second.headPosition()).toBe(3n);
    expect(await second.readAll({ after: 2n ** 70n })).toEqual([]);
    expect(await second.readStream('a', { direction: 'backwards', from: 2n ** 70n })).toEqual(
      before.filter((e) => e.streamName === 'a').reverse(),
    );
    expect(await second.append('a', [event('A2')], { expectedVersion: 1n })).toEqual({
      nextExpectedRevision: 2n,
      lastPosition: 4n,
    });
    const conflict = await rejection(
      second.append('b', [event('B1')], { expectedVersion: 'no_stream' }),
    );
    expect(conflict).toBeInstanceOf(ConcurrencyError);
    expect((conflict as ConcurrencyError).actual).toBe(0n);
  });

  it('reports stored data that is not valid JSON as a StoredEventError naming stream and position', async () => {
    const path = join(dir, 'events.db');
    const store = open({ path });
    await store.append('orders', [event('E0'), event('E1'), event('E2')]);
    raw(path).prepare(`UPDATE opledger_events SET data = '{"broken' WHERE position = 2`).run();

    for (const attempt of [store.readAll(), store.readStream('orders')]) {
      const error = await rejection(attempt);
      expect(error).toBeInstanceOf(StoredEventError);
      expect(error).toMatchObject({
        code: 'INVALID_STORED_EVENT',
        stream: 'orders',
        position: 2n,
        revision: 1n,
      });
      expect((error as Error).message).toMatch(/position 2 \(stream 'orders', revision 1\)/);
      expect((error as Error).message).toContain('not valid JSON');
    }
    // Only the broken row fails: the rest of the stream stays readable around it.
    expect((await store.readStream('orders', { from: 2n })).map((e) => e.type)).toEqual(['E2']);

    // A subscriber gets every event before the broken one, then the error: never a skip.
    const live = record(store);
    await eventually(() => live.state.error !== undefined, 'the subscription error');
    expect(live.seen.map((e) => e.type)).toEqual(['E0']);
    expect(live.state.error).toBeInstanceOf(StoredEventError);
    expect(live.state.error).toMatchObject({ position: 2n, stream: 'orders' });

    raw(path).prepare(`UPDATE opledger_events SET metadata = '[1,' WHERE position = 3`).run();
    const bad = await rejection(store.readStream('orders', { from: 2n }));
    expect(bad).toMatchObject({ code: 'INVALID_STORED_EVENT', position: 3n });
    expect((bad as Error).message).toContain('metadata');
  });

  it('refuses events that have no JSON form, and writes nothing', async () => {
    const store = open({ path: join(dir, 'events.db') });
    for (const data of [{ n: 1n }, undefined, () => 1]) {
      const bad: EventData = { type: 'Bad', version: 1, data };
      const error = await rejection(store.append('s', [event('Ok'), bad]));
      expect(error).toBeInstanceOf(InvalidEventError);
      expect(error).toMatchObject({ code: 'INVALID_EVENT' });
      expect((error as Error).message).toContain("'Bad'");
    }
    expect(await store.readAll()).toEqual([]);
    expect(await store.headPosition()).toBe(0n);
  });

  it('refuses a file whose schema is newer than this code knows', async () => {
    const path = join(dir, 'events.db');
    await open({ path }).close();
    raw(path)
      .prepare(
        "INSERT INTO opledger_schema_version VALUES ('event-store', 2, 'from the future', '2030-01-01')",
      )
      .run();
    let error: unknown;
    try {
      open({ path });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect(error).toMatchObject({ code: 'SCHEMA_TOO_NEW', found: 2, supported: 1 });
  });

  it('uses an open better-sqlite3 connection it is given, and leaves it open on close', async () => {
    const db = raw(join(dir, 'given.db'));
    const store = open({ database: db });
    await store.append('s', [event('E')]);
    await store.close();
    expect(db.open).toBe(true);
    expect(db.prepare('SELECT COUNT(*) FROM opledger_events').pluck().get()).toBe(1);
    expect(await rejection(store.readAll())).toBeInstanceOf(StoreClosedError);
  });

  it('needs exactly one of path and database', () => {
    const db = raw(':memory:');
    expect(() => createSqliteEventStore({})).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS' }),
    );
    expect(() => createSqliteEventStore({ path: join(dir, 'x.db'), database: db })).toThrow(
      /either \{ path \}/,
    );
  });

  it("delivers appends made through another connection (another process's), in order, once", async () => {
    const path = join(dir, 'events.db');
    const reader = open({ path, pollIntervalMs: 10 });
    const writer = open({ path });
    await writer.append('w', [event('Before')]);
    const live = record(reader);
    // Nothing is appended through `reader`: only its polling can deliver these.
    for (let i = 0; i < 5; i++)
      await writer.append(`w-${i % 2}`, [event(`W${i}`), event(`W${i}b`)]);
    await eventually(() => live.seen.length === 11, '11 events');
    await sleep(50);
    expect(live.seen).toEqual(await writer.readAll());
  });

  it('wakes its own subscribers at once, reading from their cursor', async () => {
    const path = join(dir, 'events.db');
    const reader = open({ path, pollIntervalMs: 60_000 });
    const writer = open({ path });
    const live = record(reader);
    await sleep(20); // the catch-up is over: what comes next is live
    await writer.append('other', [event('FromOther')]);
    await sleep(150);
    expect(live.seen).toEqual([]);
    const started = Date.now();
    await reader.append('own', [event('FromSelf')]);
    await eventually(() => live.seen.length === 2, 'both events', 1_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    // The wake-up reads from the cursor: the other connection's earlier event comes first.
    expect(live.seen.map((e) => [e.type, e.globalPosition])).toEqual([
      ['FromOther', 1n],
      ['FromSelf', 2n],
    ]);
  });

  it('polls only while someone listens: unsubscribe and close stop the timer', async () => {
    const store = open({ path: join(dir, 'events.db') });
    const baseline = pollingTimers();
    const one = record(store);
    const two = record(store, 'end');
    expect(pollingTimers()).toBe(baseline + 1);
    one.subscription.unsubscribe();
    expect(pollingTimers()).toBe(baseline + 1);
    two.subscription.unsubscribe();
    expect(pollingTimers()).toBe(baseline);
    const three = record(store);
    expect(pollingTimers()).toBe(baseline + 1);
    await store.close();
    expect(pollingTimers()).toBe(baseline);
    expect(three.state.completed).toBe(true);
  });

  it('waits, without blocking the event loop, for a write lock a read store of this process holds across awaits', async () => {
    const path = join(dir, 'shared.db');
    const store = open({ path });
    const readStore = createSqliteReadStore({ path });
    opened.push(readStore);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const order: string[] = [];
    const projecting = readStore
      .transaction('p', 1n, async () => {
        await gate;
      })
      .then(() => order.push('read model committed'));
    await sleep(10);
    const appending = store.append('s', [event('E')]).then((r) => {
      order.push('event appended');
      return r;
    });
    const tickedAt = Date.now();
    await sleep(30);
    expect(Date.now() - tickedAt).toBeLessThan(500);
    expect(order).toEqual([]);
    release();
    await Promise.all([projecting, appending]);
    expect(order).toEqual(['read model committed', 'event appended']);
    expect(await readStore.checkpoint('p')).toBe(1n);
    expect((await store.readAll()).map((e) => e.type)).toEqual(['E']);
  });

  it('gives up with STORE_BUSY after busyTimeoutMs while another connection keeps the lock', async () => {
    const path = join(dir, 'events.db');
    const store = open({ path, busyTimeoutMs: 150 });
    const other = raw(path);
    other.exec('BEGIN IMMEDIATE');
    const started = Date.now();
    const error = await rejection(store.append('s', [event('Blocked')]));
    expect(error).toMatchObject({ code: 'STORE_BUSY', cause: { code: 'SQLITE_BUSY' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    other.exec('ROLLBACK');
    await store.append('s', [event('Through')], { expectedVersion: 'no_stream' });
    expect((await store.readAll()).map((e) => e.type)).toEqual(['Through']);
  });
});
