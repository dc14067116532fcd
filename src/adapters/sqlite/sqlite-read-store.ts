import type { LogLine } from '../../domain/log-lines.js';
import { OpledgerError } from '../../domain/errors.js';
import type {
  EnvironmentRecord,
  OperationRecord,
  ReadModelTransaction,
  ReadModelTransactionNow,
  ReadStore,
  ResourceRecord,
  SkippedEvent,
} from '../../projections/read-store.js';
import { DEFAULT_BUSY_TIMEOUT_MS } from './driver.js';
import { isTransientSqliteError } from './transient-errors.js';
import type { SqliteDatabase, Synchronous } from './public-types.js';
import { invalidOptionsError, ReadOnlyStoreError, ReadStoreClosedError } from './errors.js';
import { openStoreConnection } from './migrations.js';
import { operationQueryWhere } from './operation-query-sql.js';
import {
  environmentValues,
  logLineValues,
  operationValues,
  resourceValues,
} from '../read-store-values.js';
import {
  toEnvironmentRecord,
  toLogLine,
  toOperationRecord,
  toResourceRecord,
  type EnvironmentRow,
  type LogLineRow,
  type OperationRow,
  type ResourceRow,
} from './read-store-rows.js';
import { READ_STORE_COMPONENT, readStoreMigrations } from './read-store-schema.js';
import { asyncWriteTransaction, writeTransaction } from './write-lock.js';

export interface SqliteReadStoreOptions {
  /**
   * The database file (it may be the event store's), created with its folder on first use.
   * The read store opens its own connection to it: a transaction here spans awaits, and on a
   * shared connection it would swallow an event append made meanwhile.
   */
  path?: string;
  /** An open better-sqlite3 connection used by this read store alone; close() leaves it open. */
  database?: SqliteDatabase;
  busyTimeoutMs?: number;
  /**
   * 'normal' by default: read models can be rebuilt from the events, and since a checkpoint
   * commits with its rows, a commit lost to a power cut is simply projected again. Only with `path`.
   */
  synchronous?: Synchronous;
  /** Rows per read of operationsCreatedBetween. */
  pageSize?: number;
  /**
   * Opens an existing file read-only (a copy, a mounted backup): queries work, `transaction`
   * and `reset` are a `STORE_READ_ONLY` error, nothing is written to the file.
   */
  readonly?: boolean;
}

const DEFAULT_PAGE_SIZE = 500;

const endedTransactionError = () =>
  new OpledgerError(
    'TRANSACTION_ENDED',
    'This read-model transaction has already committed or rolled back: write only inside the apply function, and await every write before it returns.',
  );

/**
 * Read models in SQLite tables next to (or apart from) the events. Every call runs in turn on
 * the connection: a transaction is open across the awaits of `apply`, and a query interleaved
 * with it would read rows that may yet be rolled back.
 */
export const createSqliteReadStore = (options: SqliteReadStoreOptions): ReadStore => {
  if ((options.path === undefined) === (options.database === undefined)) {
    throw invalidOptionsError('createSqliteReadStore');
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const { db, owned } = openStoreConnection(options, {
    component: READ_STORE_COMPONENT,
    migrations: readStoreMigrations,
    busyTimeoutMs,
    synchronous: 'normal',
  });

  const sql = {
    checkpoint: db
      .prepare<[string], bigint>('SELECT position FROM opledger_checkpoints WHERE projection = ?')
      .pluck()
      .safeIntegers(true),
    setCheckpoint: db.prepare<[string, bigint]>(
      'INSERT INTO opledger_checkpoints (projection, position) VALUES (?, ?) ON CONFLICT (projection) DO UPDATE SET position = excluded.position',
    ),
    deleteCheckpoint: db.prepare<[string]>('DELETE FROM opledger_checkpoints WHERE projection = ?'),
    putSkipped: db.prepare(
      'INSERT OR REPLACE INTO opledger_skipped_events (projection, position, stream, revision, code, problem, user, at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    skipped: db
      .prepare<[string], Omit<SkippedEvent, 'position'> & { position: bigint }>(
        'SELECT position, stream, revision, code, problem, user, at, reason FROM opledger_skipped_events WHERE projection = ? ORDER BY position',
      )
      .safeIntegers(true),
    document: db
      .prepare<[string, string], string>(
        'SELECT document FROM opledger_documents WHERE collection = ? AND key = ?',
      )
      .pluck(),
    firstDocuments: db.prepare<[string, number], { key: string; json: string }>(
      'SELECT key, document AS json FROM opledger_documents WHERE collection = ? ORDER BY key LIMIT ?',
    ),
    nextDocuments: db.prepare<[string, string, number], { key: string; json: string }>(
      'SELECT key, document AS json FROM opledger_documents WHERE collection = ? AND key > ? ORDER BY key LIMIT ?',
    ),
    putDocument: db.prepare<[string, string, string]>(
      'INSERT OR REPLACE INTO opledger_documents (collection, key, document) VALUES (?, ?, ?)',
    ),
    deleteDocuments: db.prepare<[string]>('DELETE FROM opledger_documents WHERE collection = ?'),
    version: db
      .prepare<[string], number>(
        'SELECT version FROM opledger_projection_versions WHERE projection = ?',
      )
      .pluck(),
    setVersion: db.prepare<[string, number]>(
      'INSERT OR REPLACE INTO opledger_projection_versions (projection, version) VALUES (?, ?)',
    ),
    operation: db.prepare<[string], OperationRow>('SELECT * FROM opledger_operations WHERE id = ?'),
    putOperation: db.prepare(
      'INSERT OR REPLACE INTO opledger_operations (id, environment, resource_type, resource_handle, type, status, created_at, last_revision, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    logLines: db.prepare<[string], LogLineRow>(
      'SELECT * FROM opledger_log_lines WHERE operation_id = ? ORDER BY revision',
    ),
    putLogLine: db.prepare(
      'INSERT OR REPLACE INTO opledger_log_lines (operation_id, revision, at, level, step, message) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    resource: db.prepare<[string, string, string], ResourceRow>(
      'SELECT * FROM opledger_resources WHERE environment = ? AND type = ? AND handle = ?',
    ),
    // type || handle: the in-memory store orders by the concatenation, and both must agree.
    resources: db.prepare<[string], ResourceRow>(
      'SELECT * FROM opledger_resources WHERE environment = ? ORDER BY type, handle',
    ),
    putResource: db.prepare(
      'INSERT OR REPLACE INTO opledger_resources (environment, type, handle, status, release, last_operation_id, last_operation_type, last_operation_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    environment: db.prepare<[string], EnvironmentRow>(
      'SELECT * FROM opledger_environments WHERE environment = ?',
    ),
    environments: db.prepare<[], EnvironmentRow>(
      'SELECT * FROM opledger_environments ORDER BY environment',
    ),
    putEnvironment: db.prepare(
      'INSERT OR REPLACE INTO opledger_environments (environment, status, first_operation_at, deprovisioned_at, purged_through) VALUES (?, ?, ?, ?, ?)',
    ),
    purgeLogLines: db.prepare<[string]>(
      'DELETE FROM opledger_log_lines WHERE operation_id IN (SELECT id FROM opledger_operations WHERE environment = ?)',
    ),
    purgeOperations: db.prepare<[string]>('DELETE FROM opledger_operations WHERE environment = ?'),
    purgeResources: db.prepare<[string]>('DELETE FROM opledger_resources WHERE environment = ?'),
    firstPage: db.prepare<[string, string, string, number], OperationRow>(
      'SELECT * FROM opledger_operations WHERE environment = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, id LIMIT ?',
    ),
    // Keyset paging: each page starts after the last row of the previous one, so a report of
    // any size is read in constant memory and rows never shift between pages.
    nextPage: db.prepare<[string, string, string, string, string, number], OperationRow>(
      'SELECT * FROM opledger_operations WHERE environment = ? AND created_at >= ? AND created_at < ? AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?',
    ),
    operationDates: db
      .prepare<[string], string>(
        'SELECT created_at FROM opledger_operations WHERE environment = ? ORDER BY created_at, id',
      )
      .pluck(),
  };

  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();
  const lock = { busyTimeoutMs, ensureOpen: () => undefined };

  /** Runs `work` after everything queued before it; refused once close() was called. */
  const inTurn = <T>(work: () => T | Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new ReadStoreClosedError());
    const result = queue.then(work);
    queue = result.catch(() => undefined);
    return result;
  };

  // A read snapshot, so that a list and its total agree even while other processes write.
  const snapshot = <T>(read: () => T): T => db.transaction(read).deferred();

  const operation = (id: string) => {
    const row = sql.operation.get(id);
    return row ? toOperationRecord(row) : undefined;
  };
  const resource = (environment: string, type: string, handle: string) => {
    const row = sql.resource.get(environment, type, handle);
    return row ? toResourceRecord(row) : undefined;
  };
  const environment = (name: string) => {
    const row = sql.environment.get(name);
    return row ? toEnvironmentRecord(row) : undefined;
  };

  const openTransaction = (projection: string, isOpen: () => boolean): ReadModelTransaction => {
    // The statements, answered at once: better-sqlite3 is synchronous, so a batch needs no
    // promise per read or write (ReadModelTransactionNow).
    const checked =
      <A extends unknown[], R>(fn: (...args: A) => R) =>
      (...args: A): R => {
        if (!isOpen()) throw endedTransactionError();
        return fn(...args);
      };
    // The same, as promises: an async function turns the ended transaction's throw into a
    // rejection, as ReadModelTransaction's callers expect.
    const later =
      <A extends unknown[], R>(fn: (...args: A) => R) =>
      async (...args: A): Promise<R> =>
        fn(...args);
    const whileOpen = <A extends unknown[], R>(fn: (...args: A) => R) => later(checked(fn));
    const now: ReadModelTransactionNow = {
      getOperation: checked(operation),
      putOperation: checked((record: OperationRecord) => {
        sql.putOperation.run(...operationValues(record));
      }),
      putLogLine: checked((line: LogLine) => {
        sql.putLogLine.run(...logLineValues(line));
      }),
      getResource: checked(resource),
      putResource: checked((record: ResourceRecord) => {
        sql.putResource.run(...resourceValues(record));
      }),
      getEnvironment: checked(environment),
      putEnvironment: checked((record: EnvironmentRecord) => {
        sql.putEnvironment.run(...environmentValues(record));
      }),
    };
    return {
      now,
      getOperation: later(now.getOperation),
      putOperation: later(now.putOperation),
      putLogLine: later(now.putLogLine),
      getResource: later(now.getResource),
      putResource: later(now.putResource),
      getEnvironment: later(now.getEnvironment),
      putEnvironment: later(now.putEnvironment),
      purgeEnvironment: whileOpen((name: string) => {
        sql.purgeLogLines.run(name);
        sql.purgeOperations.run(name);
        sql.purgeResources.run(name);
      }),
      putSkippedEvent: whileOpen((s: SkippedEvent) => {
        sql.putSkipped.run(
          projection,
          BigInt(s.position),
          s.stream,
          s.revision,
          s.code,
          s.problem,
          s.user,
          s.at,
          s.reason,
        );
      }),
      getDocument: whileOpen((collection: string, key: string) =>
        sql.document.get(collection, key),
      ),
      putDocument: whileOpen((collection: string, key: string, json: string) => {
        sql.putDocument.run(collection, key, json);
      }),
    };
  };

  return {
    // A lock held past the busy timeout is waited out by a projector, as by the engine.
    outage: {
      host: options.path ?? (db as { name?: string }).name ?? 'a SQLite database',
      isTransient: isTransientSqliteError,
    },
    checkpoint: (projection) => inTurn(() => sql.checkpoint.get(projection) ?? 0n),

    transaction: (projection, position, apply) =>
      inTurn(() => {
        if (options.readonly) throw new ReadOnlyStoreError('read store');
        return asyncWriteTransaction(db, lock, async () => {
          let open = true;
          try {
            await apply(openTransaction(projection, () => open));
            sql.setCheckpoint.run(projection, position);
          } finally {
            open = false;
          }
        });
      }),

    reset: (projection) =>
      inTurn(() => {
        if (options.readonly) throw new ReadOnlyStoreError('read store');
        return writeTransaction(db, lock, () => {
          db.exec(
            'DELETE FROM opledger_log_lines; DELETE FROM opledger_operations; DELETE FROM opledger_resources; DELETE FROM opledger_environments;',
          );
          sql.deleteCheckpoint.run(projection);
        });
      }),

    skippedEvents: (projection) =>
      inTurn(() =>
        sql.skipped.all(projection).map((row) => ({ ...row, position: row.position.toString() })),
      ),

    document: (collection, key) => inTurn(() => sql.document.get(collection, key)),
    documents: (collection, { after, limit }) =>
      inTurn(() =>
        after === undefined
          ? sql.firstDocuments.all(collection, Math.max(0, limit))
          : sql.nextDocuments.all(collection, after, Math.max(0, limit)),
      ),
    projectionVersion: (projection) => inTurn(() => sql.version.get(projection)),
    resetProjection: (projection, version, collections) =>
      inTurn(() => {
        if (options.readonly) throw new ReadOnlyStoreError('read store');
        return writeTransaction(db, lock, () => {
          for (const collection of collections) sql.deleteDocuments.run(collection);
          sql.deleteCheckpoint.run(projection);
          sql.setVersion.run(projection, version);
        });
      }),

    operation: (id) => inTurn(() => operation(id)),
    logLines: (id) => inTurn(() => sql.logLines.all(id).map(toLogLine)),

    listOperations: (query) =>
      inTurn(() => {
        const { where, params } = operationQueryWhere(query);
        return snapshot(() => ({
          items: db
            .prepare<unknown[], OperationRow>(
              `SELECT * FROM opledger_operations WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
            )
            .all(...params, Math.max(0, query.limit), Math.max(0, query.offset))
            .map(toOperationRecord),
          total: db
            .prepare<unknown[], number>(`SELECT COUNT(*) FROM opledger_operations WHERE ${where}`)
            .pluck()
            .get(...params) as number,
        }));
      }),

    async *operationsCreatedBetween(env, from, to) {
      let last: OperationRow | undefined;
      for (;;) {
        const after = last;
        const page = await inTurn(() =>
          after
            ? sql.nextPage.all(env, from, to, after.created_at, after.id, pageSize)
            : sql.firstPage.all(env, from, to, pageSize),
        );
        for (const row of page) yield toOperationRecord(row);
        if (page.length < pageSize) return;
        last = page.at(-1);
      }
    },

    resource: (env, type, handle) => inTurn(() => resource(env, type, handle)),
    resources: (env) => inTurn(() => sql.resources.all(env).map(toResourceRecord)),
    environment: (name) => inTurn(() => environment(name)),
    environments: () => inTurn(() => sql.environments.all().map(toEnvironmentRecord)),
    operationDates: (env) => inTurn(() => sql.operationDates.all(env)),

    async close() {
      if (closed) return;
      closed = true;
      // Work queued before close() finishes first; only then does the connection go.
      await queue;
      if (owned) db.close();
    },
  };
};
