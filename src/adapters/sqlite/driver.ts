import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { makeFolder } from '../make-folder.js';
import { requirePeer } from '../peer-dependency.js';
import type { SqliteDatabase, Synchronous } from './public-types.js';

/** A connection as the adapter uses it, with better-sqlite3's own types (internal only). */
export type Connection = BetterSqlite3.Database;

export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

let driver: typeof BetterSqlite3 | undefined;

// Loaded on first use rather than imported: better-sqlite3 is an optional peer dependency, so
// importing opledger (or even this adapter) must work where it is not installed.
const loadDriver = (): typeof BetterSqlite3 =>
  (driver ??= requirePeer<typeof BetterSqlite3>({
    name: 'better-sqlite3',
    version: '12',
    neededFor: 'The SQLite store',
  }));

/**
 * The connection a caller passed as `database`. The public option is a structural type (see
 * public-types.ts); at run time it is better-sqlite3's Database.
 */
export const asConnection = (database: SqliteDatabase): Connection =>
  database as unknown as Connection;

const isFile = (path: string) => path !== '' && path !== ':memory:' && !path.startsWith('file:');

/** Opens a database file, creating it and its folder if needed. */
export const openDatabase = (
  path: string,
  options: { busyTimeoutMs: number; synchronous: Synchronous },
): Connection => {
  if (isFile(path)) makeFolder(dirname(path));
  const Database = loadDriver();
  const db = new Database(path, { timeout: options.busyTimeoutMs });
  try {
    // WAL lets readers (subscriptions, other processes) run while one connection writes.
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
};

export const isBusy = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
};
