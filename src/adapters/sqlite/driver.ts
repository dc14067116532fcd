import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { makeFolder } from '../make-folder.js';
import type BetterSqlite3 from 'better-sqlite3';
import { OpledgerError } from '../../domain/errors.js';

export type SqliteDatabase = BetterSqlite3.Database;

export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

const require = createRequire(import.meta.url);
let driver: typeof BetterSqlite3 | undefined;

// Loaded on first use rather than imported: better-sqlite3 is an optional peer dependency, so
// importing opledger (or even this adapter) must work where it is not installed.
const loadDriver = (): typeof BetterSqlite3 => {
  if (driver) return driver;
  try {
    driver = require('better-sqlite3') as typeof BetterSqlite3;
    return driver;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'MODULE_NOT_FOUND') {
      throw new OpledgerError(
        'DRIVER_MISSING',
        'The SQLite store needs the optional peer dependency better-sqlite3 12.x: run `npm install better-sqlite3`.',
        { cause: error },
      );
    }
    throw error;
  }
};

const isFile = (path: string) => path !== '' && path !== ':memory:' && !path.startsWith('file:');

/**
 * 'full' syncs the WAL on every commit: an acknowledged write survives a power cut. 'normal'
 * syncs at checkpoints only: still safe against a process crash, never corrupt, but a power cut
 * may lose the last commits.
 */
export type Synchronous = 'full' | 'normal';

/** Opens a database file, creating it and its folder if needed. */
export const openDatabase = (
  path: string,
  options: { busyTimeoutMs: number; synchronous: Synchronous },
): SqliteDatabase => {
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
