import { OpledgerError, StoreClosedError } from '../../domain/errors.js';

/** The file was written by a newer opledger: migrating it down could lose data. */
export class SchemaVersionError extends OpledgerError {
  constructor(
    readonly component: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      'SCHEMA_TOO_NEW',
      `The SQLite ${component} schema is at version ${found}, newer than the ${supported} this opledger knows: upgrade opledger, or open another file.`,
    );
  }
}

/** Still a StoreClosedError (same code, same instanceof), with a message naming the read store. */
export class ReadStoreClosedError extends StoreClosedError {
  constructor() {
    super();
    this.message = 'The read store is closed; create a new one to go on.';
  }
}

/** A write asked of a store opened read-only (`readonly: true`): a copy, a mounted backup. */
export class ReadOnlyStoreError extends OpledgerError {
  constructor(what: string) {
    super(
      'STORE_READ_ONLY',
      `This SQLite ${what} was opened read-only: it reads, and refuses every write. Open a writable copy of the file to write to it.`,
    );
  }
}

/** A read-only file whose schema this opledger would have to migrate before reading it. */
export class ReadOnlySchemaError extends OpledgerError {
  constructor(
    readonly component: string,
    readonly found: number,
    readonly needed: number,
  ) {
    super(
      'SCHEMA_MIGRATION_NEEDED',
      `The SQLite ${component} schema of this read-only file is at version ${found}; this opledger needs ${needed} and cannot migrate a file it may not write. Open a writable copy of the file (it is migrated on first use).`,
    );
  }
}

export const storeBusyError = (waitedMs: number, cause: unknown): OpledgerError =>
  new OpledgerError(
    'STORE_BUSY',
    `The SQLite database stayed locked by another connection for ${waitedMs} ms. Retry later, look for a process holding a long write transaction, or raise busyTimeoutMs.`,
    { cause },
  );

export const invalidOptionsError = (factory: string): OpledgerError =>
  new OpledgerError(
    'INVALID_OPTIONS',
    `${factory} needs either { path } (a file to open or create) or { database } (an open better-sqlite3 connection), not both.`,
  );

/**
 * The disk (or the file's `max_page_count`) is full: SQLite refused to grow the file. The write
 * that hit it was rolled back whole; everything written before it is in the file. Not waited
 * out as an outage: space does not come back by itself.
 */
export class StoreFullError extends OpledgerError {
  constructor(
    /** The database file. */
    readonly file: string,
    cause: unknown,
  ) {
    super(
      'STORE_FULL',
      `The SQLite file ${file} is full (SQLITE_FULL: its disk has no space left, or it reached its max_page_count); the write was rolled back whole and nothing stored before it was lost. Free space on that disk (or raise max_page_count), then call engine.recover() to finish or roll back the operations that were running.`,
      { cause },
    );
  }
}

/**
 * A file the store opened for writing refuses writes now: its permissions, an immutable flag,
 * or a file system remounted read-only.
 * Unlike `ReadOnlyStoreError`, nobody asked for read-only: something changed the file.
 */
export class StoreFileReadOnlyError extends OpledgerError {
  constructor(
    /** The database file. */
    readonly file: string,
    /** What SQLite or the system said. */
    reason: string,
    cause: unknown,
  ) {
    super(
      'STORE_READ_ONLY',
      `The SQLite file ${file} refuses writes (${reason}); the write was rolled back whole and nothing stored before it was lost. Make the file, its -wal file and its folder writable again (check the permissions, \`lsattr\`, the mount), then call engine.recover() to finish or roll back the operations that were running.`,
      { cause },
    );
  }
}
