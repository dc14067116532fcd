import { setTimeout as delay } from 'node:timers/promises';
import { isBusy, type SqliteDatabase } from './driver.js';
import { storeBusyError } from './errors.js';

export interface WriteLockOptions {
  busyTimeoutMs: number;
  /** Throws when the store was closed while this write waited for the lock. */
  ensureOpen: () => void;
}

// SQLite's own busy wait would block the whole thread: a read-store transaction that another
// connection of this same process holds across an `await` could then never finish, and the
// wait would end in SQLITE_BUSY. So the lock is tried without waiting, and waited for here.
/** Returns undefined once the lock is taken, or the SQLITE_BUSY error when another holds it. */
const tryBegin = (db: SqliteDatabase): unknown => {
  const previous = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma('busy_timeout = 0');
  try {
    db.exec('BEGIN IMMEDIATE');
    return undefined;
  } catch (error) {
    if (isBusy(error)) return error;
    throw error;
  } finally {
    db.pragma(`busy_timeout = ${previous}`);
  }
};

const rollback = (db: SqliteDatabase) => {
  if (db.inTransaction) db.exec('ROLLBACK');
};

/** Runs `locked` right after BEGIN IMMEDIATE succeeds, in the same turn of the event loop. */
const whenLocked = async <T>(
  db: SqliteDatabase,
  options: WriteLockOptions,
  locked: () => T | Promise<T>,
): Promise<T> => {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    options.ensureOpen();
    const busy = tryBegin(db);
    if (busy === undefined) return locked();
    const waited = Date.now() - started;
    if (waited >= options.busyTimeoutMs) throw storeBusyError(waited, busy);
    // Jitter keeps several processes from retrying in lockstep.
    await delay(Math.min(1 + attempt, 20) * (0.5 + Math.random()));
  }
};

/**
 * A write transaction whose work is synchronous: nothing else can run on the connection
 * between BEGIN and COMMIT, and the lock is held for as short a time as possible.
 */
export const writeTransaction = <T>(
  db: SqliteDatabase,
  options: WriteLockOptions,
  work: () => T,
): Promise<T> =>
  whenLocked(db, options, () => {
    try {
      const result = work();
      db.exec('COMMIT');
      return result;
    } catch (error) {
      rollback(db);
      throw error;
    }
  });

/** A write transaction whose work awaits: the caller must keep other work off the connection. */
export const asyncWriteTransaction = <T>(
  db: SqliteDatabase,
  options: WriteLockOptions,
  work: () => Promise<T>,
): Promise<T> =>
  whenLocked(db, options, async () => {
    try {
      const result = await work();
      db.exec('COMMIT');
      return result;
    } catch (error) {
      rollback(db);
      throw error;
    }
  });
