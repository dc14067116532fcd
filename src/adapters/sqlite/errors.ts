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
