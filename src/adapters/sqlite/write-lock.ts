import { setTimeout as delay } from 'node:timers/promises';
import type { Statement } from 'better-sqlite3';
import { isBusy, type Connection } from './driver.js';
import { storeBusyError } from './errors.js';

export interface WriteLockOptions {
  busyTimeoutMs: number;
  /** Throws when the store was closed while this write waited for the lock. */
  ensureOpen: () => void;
}

interface LockStatements {
  begin: Statement;
  commit: Statement;
  rollback: Statement;
  busyTimeout: Statement;
  setBusyTimeout(ms: number): void;
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
    };
    prepared.set(db, statements);
  }
  return statements;
};

// SQLite's own busy wait would block the whole thread: a read-store transaction that another
// connection of this same process holds across an `await` could then never finish, and the
// wait would end in SQLITE_BUSY. So the lock is tried without waiting, and waited for here.
/** Returns undefined once the lock is taken, or the SQLITE_BUSY error when another holds it. */
const tryBegin = (db: Connection): unknown => {
  const statements = statementsOf(db);
  const previous = statements.busyTimeout.get() as number;
  statements.setBusyTimeout(0);
  try {
    statements.begin.run();
    return undefined;
  } catch (error) {
    if (isBusy(error)) return error;
    throw error;
  } finally {
    statements.setBusyTimeout(previous);
  }
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
