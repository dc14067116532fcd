import type { Observable } from 'rxjs';
import { ConcurrencyError, StoreClosedError } from '../../domain/errors.js';
import {
  describeExpectedVersion,
  ofTypes,
  satisfiesExpectedVersion,
  type AppendOptions,
  type AppendResult,
  type EventData,
  type EventStore,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
} from '../../domain/event-store.js';
import { DEFAULT_BUSY_TIMEOUT_MS, isBusy } from './driver.js';
import type { SqliteDatabase, Synchronous } from './public-types.js';
import { invalidOptionsError, ReadOnlyStoreError } from './errors.js';
import { encodeEventData, toRecordedEvent, type EventRow } from './event-rows.js';
import { EVENT_STORE_COMPONENT, eventStoreMigrations } from './event-store-schema.js';
import { createLiveSubscriptions } from './live-subscriptions.js';
import { openStoreConnection } from './migrations.js';
import { isTransientSqliteError } from './transient-errors.js';
import { writeTransaction } from './write-lock.js';

export interface SqliteEventStoreOptions {
  /** The database file, created with its folder on first use; ':memory:' for a private one. */
  path?: string;
  /**
   * An open better-sqlite3 connection to use instead of `path`. The caller keeps it: close()
   * leaves it open. Do not share it with a read store, whose transactions span awaits.
   */
  database?: SqliteDatabase;
  /** How often subscriptions look for events appended by other connections or processes. */
  pollIntervalMs?: number;
  /** How long an append waits for another connection's write lock before failing. */
  busyTimeoutMs?: number;
  /**
   * 'full' (the default): an acknowledged append survives a power cut. 'normal' is faster and
   * survives a process crash, but a power cut may lose the last appends. Only with `path`.
   */
  synchronous?: Synchronous;
  /** Source of `recordedAt`; defaults to the system clock. */
  now?: () => Date;
  /**
   * Opens an existing file read-only (a copy, a mounted backup): reads and subscriptions work,
   * `append` is a `STORE_READ_ONLY` error, nothing is written to the file. With `database`, the
   * connection should be read-only too (see openDatabase).
   */
  readonly?: boolean;
}

const DEFAULT_POLL_INTERVAL_MS = 25;
const SUBSCRIPTION_PAGE_SIZE = 500;
const MAX_INT64 = 9_223_372_036_854_775_807n;
const MIN_INT64 = -MAX_INT64 - 1n;

// SQLite integers are 64-bit: a bound beyond them means "from the end" (or the start) anyway.
const int64 = (value: bigint): bigint =>
  value > MAX_INT64 ? MAX_INT64 : value < MIN_INT64 ? MIN_INT64 : value;

const limitOf = (maxCount: number | undefined): number =>
  maxCount === undefined || !Number.isFinite(maxCount) ? -1 : Math.max(0, Math.floor(maxCount));

/**
 * The embedded default store: one SQLite file, shared safely by several processes. Appends
 * take SQLite's write lock (BEGIN IMMEDIATE), so the expected-version check and the insert see
 * the same state in every process; subscriptions poll the file.
 */
export const createSqliteEventStore = (options: SqliteEventStoreOptions): EventStore => {
  if ((options.path === undefined) === (options.database === undefined)) {
    throw invalidOptionsError('createSqliteEventStore');
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const now = options.now ?? (() => new Date());
  const { db, owned } = openStoreConnection(options, {
    component: EVENT_STORE_COMPONENT,
    migrations: eventStoreMigrations,
    busyTimeoutMs,
    synchronous: 'full',
  });

  const columns = 'position, stream, revision, type, version, data, metadata, recorded_at';
  const sql = {
    lastOfStream: db
      .prepare<[string], { revision: bigint; position: bigint }>(
        'SELECT revision, position FROM opledger_events WHERE stream = ? ORDER BY revision DESC LIMIT 1',
      )
      .safeIntegers(true),
    insert: db
      .prepare<[string, bigint, string, number, string, string | null, string]>(
        'INSERT INTO opledger_events (stream, revision, type, version, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .safeIntegers(true),
    head: db
      .prepare<[], bigint>('SELECT COALESCE(MAX(position), 0) FROM opledger_events')
      .pluck()
      .safeIntegers(true),
    forwards: db
      .prepare<[string, bigint, number], EventRow>(
        `SELECT ${columns} FROM opledger_events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?`,
      )
      .safeIntegers(true),
    backwards: db
      .prepare<[string, bigint, number], EventRow>(
        `SELECT ${columns} FROM opledger_events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`,
      )
      .safeIntegers(true),
    after: db
      .prepare<[bigint, number], EventRow>(
        `SELECT ${columns} FROM opledger_events WHERE position > ? ORDER BY position LIMIT ?`,
      )
      .safeIntegers(true),
    // The types as a JSON array: one prepared statement for any number of them.
    afterOfTypes: db
      .prepare<[bigint, string, number], EventRow>(
        `SELECT ${columns} FROM opledger_events
          WHERE position > ? AND type IN (SELECT value FROM json_each(?)) ORDER BY position LIMIT ?`,
      )
      .safeIntegers(true),
  };

  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new StoreClosedError();
  };
  const head = () => sql.head.get() ?? 0n;

  const live = createLiveSubscriptions<EventRow>({
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    pageSize: SUBSCRIPTION_PAGE_SIZE,
    isClosed: () => closed,
    head,
    readAfter: (position, limit) => sql.after.all(int64(position), limit),
    toEvent: toRecordedEvent,
    positionOf: (row) => row.position,
    isTransient: isBusy,
  });

  return {
    outage: {
      host: options.path ?? (db as { name?: string }).name ?? 'a SQLite database',
      isTransient: isTransientSqliteError,
    },
    async append(
      stream: string,
      events: readonly EventData[],
      appendOptions: AppendOptions = {},
    ): Promise<AppendResult> {
      ensureOpen();
      if (options.readonly) throw new ReadOnlyStoreError('event store');
      const expected = appendOptions.expectedVersion ?? 'any';
      const encoded = events.map(encodeEventData);
      const result = await writeTransaction(db, { busyTimeoutMs, ensureOpen }, () => {
        const last = sql.lastOfStream.get(stream);
        const current = last?.revision ?? -1n;
        if (!satisfiesExpectedVersion(expected, current)) {
          throw new ConcurrencyError(stream, describeExpectedVersion(expected), current);
        }
        if (encoded.length === 0) {
          return { nextExpectedRevision: current, lastPosition: last?.position ?? head() };
        }
        const recordedAt = now().toISOString();
        let lastPosition = 0n;
        encoded.forEach((e, i) => {
          const { lastInsertRowid } = sql.insert.run(
            stream,
            current + 1n + BigInt(i),
            e.type,
            e.version,
            e.data,
            e.metadata,
            recordedAt,
          );
          lastPosition = BigInt(lastInsertRowid);
        });
        return { nextExpectedRevision: current + BigInt(encoded.length), lastPosition };
      });
      if (encoded.length > 0) live.wake();
      return result;
    },

    async readStream(
      stream: string,
      readOptions: ReadStreamOptions = {},
    ): Promise<RecordedEvent[]> {
      ensureOpen();
      const limit = limitOf(readOptions.maxCount);
      const rows =
        readOptions.direction === 'backwards'
          ? sql.backwards.all(stream, int64(readOptions.from ?? MAX_INT64), limit)
          : sql.forwards.all(stream, int64(readOptions.from ?? 0n), limit);
      return rows.map(toRecordedEvent);
    },

    async readAll(readOptions: ReadAllOptions = {}): Promise<RecordedEvent[]> {
      ensureOpen();
      const after = int64(readOptions.after ?? 0n);
      const limit = limitOf(readOptions.maxCount);
      const rows =
        readOptions.types === undefined
          ? sql.after.all(after, limit)
          : sql.afterOfTypes.all(after, JSON.stringify(readOptions.types), limit);
      return rows.map(toRecordedEvent);
    },

    async headPosition(): Promise<bigint> {
      ensureOpen();
      return head();
    },

    // The machine's clock, which stamps recordedAt: every process sharing the file shares it.
    async currentTime(): Promise<Date> {
      ensureOpen();
      return now();
    },

    subscribe(subscribeOptions: SubscribeOptions = {}): Observable<RecordedEvent> {
      const { types } = subscribeOptions;
      // Live pages are read whole and filtered here: the cursor must pass the rows left out.
      const keep = types === undefined ? undefined : ofTypes<EventRow>(types);
      return live.observe(subscribeOptions.after ?? 0n, keep);
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      live.closeAll();
      if (owned) db.close();
    },
  };
};
