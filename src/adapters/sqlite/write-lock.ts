import { setTimeout as delay } from 'node:timers/promises';
import type { Statement } from 'better-sqlite3';
import { isBusy, type Connection } from './driver.js';
import { storeBusyError } from './errors.js';

export interface WriteLockOptions {
  busyTimeoutMs: number;
  /** Throws when the store was closed while this write waited for the lock. */
  ensureOpen: () => void;
  /**
   * Leave the connection's busy timeout at 0 after BEGIN IMMEDIATE, for the next write, instead
   * of restoring it at once: two PRAGMA statements less per write (issue 17: about 3 µs of a
   * lone append's 45). Only for a connection this store opened itself, in WAL mode (where COMMIT
   * under the write lock never waits for readers), whose every other use calls
   * restoreBusyTimeout first.
   */
  keepTimeoutLowered?: boolean;
}

interface LockStatements {
  begin: Statement;
  commit: Statement;
  rollback: Statement;
  busyTimeout: Statement;
  setBusyTimeout(ms: number): void;
  /** The connection's own timeout while it is held at 0 (keepTimeoutLowered), else undefined. */
  lowered: number | undefined;
}

// Every append goes through here: `db.pragma()` and `db.exec()` compile their SQL on each call,
// which cost about a quarter of an append (bench/RESULTS.md). The statements are prepared once
// per connection instead.
const prepared = new WeakMap<Connection, LockStatements>();

const statementsOf = (db: Connection): LockStatements => {
  let statements = prepared.get(db);
  if (!statements) {
    // PRAGMA takes no bound parameters: one statement per timeout value (there are one or two).
    const setters = new Map<number, Statement>();
    statements = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      busyTimeout: db.prepare('PRAGMA busy_timeout').pluck(),
      setBusyTimeout(ms) {
        let setter = setters.get(ms);
        if (!setter)
          setters.set(ms, (setter = db.prepare(`PRAGMA busy_timeout = ${Math.trunc(ms)}`)));
        setter.get();
      },
      lowered: undefined,
    };
    prepared.set(db, statements);
  }
  return statements;
};

// SQLite's own busy wait would block the whole thread: a read-store transaction that another
// connection of this same process holds across an `await` could then never finish, and the
// wait would end in SQLITE_BUSY. So the lock is tried without waiting, and waited for here.
/** Returns undefined once the lock is taken, or the SQLITE_BUSY error when another holds it. */
const tryBegin = (db: Connection, keepLowered: boolean): unknown => {
  const statements = statementsOf(db);
  if (statements.lowered === undefined) {
    statements.lowered = statements.busyTimeout.get() as number;
    statements.setBusyTimeout(0);
  }
  try {
    statements.begin.run();
    return undefined;
  } catch (error) {
    if (isBusy(error)) return error;
    throw error;
  } finally {
    if (!keepLowered) restoreBusyTimeout(db);
  }
};

/**
 * Gives the connection back its own busy timeout if a write left it at 0 (keepTimeoutLowered):
 * to call before any other use of such a connection, so that its reads still wait out a lock.
 *
 * @example
 * restoreBusyTimeout(db);
 * const rows = readStatement.all(stream);
 */
export const restoreBusyTimeout = (db: Connection): void => {
  const statements = prepared.get(db);
  if (statements?.lowered === undefined) return;
  statements.setBusyTimeout(statements.lowered);
  statements.lowered = undefined;
};

const rollback = (db: Connection) => {
  if (db.inTransaction) statementsOf(db).rollback.run();
};

/** Runs `locked` right after BEGIN IMMEDIATE succeeds, in the same turn of the event loop. */
const whenLocked = async <T>(
  db: Connection,
  options: WriteLockOptions,
  locked: () => T | Promise<T>,
): Promise<T> => {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    options.ensureOpen();
    const busy = tryBegin(db, options.keepTimeoutLowered === true);
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
  db: Connection,
  options: WriteLockOptions,
  work: () => T,
): Promise<T> =>
  whenLocked(db, options, () => {
    try {
      const result = work();
      statementsOf(db).commit.run();
      return result;
    } catch (error) {
      rollback(db);
      throw error;
    }
  });

/** A write transaction whose work awaits: the caller must keep other work off the connection. */
export const asyncWriteTransaction = <T>(
  db: Connection,
  options: WriteLockOptions,
  work: () => Promise<T>,
): Promise<T> =>
  whenLocked(db, options, async () => {
    try {
      const result = await work();
      statementsOf(db).commit.run();
      return result;
    } catch (error) {
      rollback(db);
      throw error;
    }
  });
