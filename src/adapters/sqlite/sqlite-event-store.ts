import type { Observable } from 'rxjs';
import { StoreClosedError } from '../../domain/errors.js';
import {
  ofTypes,
  type AppendOptions,
  type AppendResult,
  type EventData,
  type EventStore,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamWrite,
  type SubscribeOptions,
} from '../../domain/event-store.js';
import { DEFAULT_BUSY_TIMEOUT_MS, isBusy } from './driver.js';
import type { SqliteDatabase, Synchronous } from './public-types.js';
import { OpledgerError } from '../../domain/errors.js';
import { invalidOptionsError, ReadOnlyStoreError } from './errors.js';
import {
  encodeEventData,
  toRecordedEvent,
  valuesToRecordedEvent,
  type EventRow,
  type EventValues,
} from './event-rows.js';
import { EVENT_STORE_COMPONENT, eventStoreMigrations } from './event-store-schema.js';
import { createGroupCommit } from './group-commit.js';
import { createLiveSubscriptions } from './live-subscriptions.js';
import { openStoreConnection } from './migrations.js';
import { isTransientSqliteError } from './transient-errors.js';
import { fileWriteError } from './write-errors.js';
import { restoreBusyTimeout } from './write-lock.js';

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
   * How the appends of this process share commits (each commit is a transaction and, with
   * 'full', an fsync). Left out (the default): adaptive. Appends wait one turn of the event loop
   * so that the operations in flight share a commit, until several commits in a row held one
   * append each (a writer awaiting each append); then an append commits at once, and after 32
   * such commits the turn is waited again as a probe; grouping resumes as soon as a commit
   * gathers two (docs/stores.md).
   * true: every append waits the turn (the behaviour before the adaptive default). false: an
   * append commits at once (those arriving while a commit waits for the lock still share the
   * next one), for one writer; with many operations in flight it costs up to 2.8x the CPU per
   * step.
   */
  groupCommit?: boolean;
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
 * the same state in every process; the appends of one process that are ready at the same time
 * share one transaction and its fsync (group-commit.ts); subscriptions poll the file.
 */
export const createSqliteEventStore = (options: SqliteEventStoreOptions): EventStore => {
  if ((options.path === undefined) === (options.database === undefined)) {
    throw invalidOptionsError('createSqliteEventStore');
  }
  if (options.groupCommit !== undefined && typeof options.groupCommit !== 'boolean') {
    throw new OpledgerError(
      'INVALID_OPTIONS',
      `createSqliteEventStore: groupCommit must be true or false, got ${JSON.stringify(options.groupCommit)}.`,
    );
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
    // readAll's pages in raw mode (arrays, not objects: see EventValues), for rebuilds; the
    // types as a JSON array, one prepared statement for any number of them.
    pageAfter: db
      .prepare<[bigint, number], EventValues>(
        `SELECT ${columns} FROM opledger_events WHERE position > ? ORDER BY position LIMIT ?`,
      )
      .safeIntegers(true)
      .raw(true),
    pageAfterOfTypes: db
      .prepare<[bigint, string, number], EventValues>(
        `SELECT ${columns} FROM opledger_events
          WHERE position > ? AND type IN (SELECT value FROM json_each(?)) ORDER BY position LIMIT ?`,
      )
      .safeIntegers(true)
      .raw(true),
  };

  let closed = false;
  let closing: Promise<void> | undefined;
  const ensureOpen = () => {
    if (closed) throw new StoreClosedError();
  };
  // Appends are refused from the moment close() is called; those already queued still commit.
  const ensureAccepting = () => {
    if (closed || closing) throw new StoreClosedError();
    if (options.readonly) throw new ReadOnlyStoreError('event store');
  };
  // Appends may leave the busy timeout of the store's own WAL connection at 0 (write-lock.ts,
  // keepTimeoutLowered): every read gives it back first, so that reads still wait out a lock.
  const keepTimeoutLowered =
    owned && !options.readonly && String(db.pragma('journal_mode', { simple: true })) === 'wal';
  const reading = keepTimeoutLowered ? () => restoreBusyTimeout(db) : () => undefined;
  const head = () => {
    reading();
    return sql.head.get() ?? 0n;
  };

  const live = createLiveSubscriptions<EventRow>({
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    pageSize: SUBSCRIPTION_PAGE_SIZE,
    isClosed: () => closed,
    head,
    readAfter: (position, limit) => {
      reading();
      return sql.after.all(int64(position), limit);
    },
    toEvent: toRecordedEvent,
    positionOf: (row) => row.position,
    isTransient: isBusy,
  });

  const file = options.path ?? (db as { name?: string }).name;
  const commits = createGroupCommit({
    db,
    busyTimeoutMs,
    keepTimeoutLowered,
    ensureOpen,
    now,
    onCommitted: () => live.wake(),
    mode: options.groupCommit === undefined ? 'adaptive' : options.groupCommit ? 'turn' : 'at-once',
  });

  return {
    outage: {
      host: file ?? 'a SQLite database',
      isTransient: isTransientSqliteError,
    },
    async append(
      stream: string,
      events: readonly EventData[],
      appendOptions: AppendOptions = {},
    ): Promise<AppendResult> {
      ensureAccepting();
      const write = {
        stream,
        events: events.map(encodeEventData),
        expected: appendOptions.expectedVersion ?? 'any',
      };
      const [result] = await commits.submit([write]).catch((error: unknown) => {
        // A full disk or a file that refuses writes is named, and not waited out as an outage.
        throw fileWriteError(file, error);
      });
      return result!;
    },

    async appendToStreams(writes: readonly StreamWrite[]): Promise<AppendResult[]> {
      ensureAccepting();
      const encoded = writes.map((w) => ({
        stream: w.stream,
        events: w.events.map(encodeEventData),
        expected: w.expectedVersion ?? 'any',
      }));
      return commits.submit(encoded).catch((error: unknown) => {
        throw fileWriteError(file, error);
      });
    },

    async readStream(
      stream: string,
      readOptions: ReadStreamOptions = {},
    ): Promise<RecordedEvent[]> {
      ensureOpen();
      const limit = limitOf(readOptions.maxCount);
      reading();
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
      reading();
      const rows =
        readOptions.types === undefined
          ? sql.pageAfter.all(after, limit)
          : sql.pageAfterOfTypes.all(after, JSON.stringify(readOptions.types), limit);
      return rows.map(valuesToRecordedEvent);
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

    close(): Promise<void> {
      closing ??= commits.drain().then(() => {
        closed = true;
        live.closeAll();
        if (owned) db.close();
      });
      return closing;
    },
  };
};
