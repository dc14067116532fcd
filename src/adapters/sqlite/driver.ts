import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
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

/**
 * Opens a database file, creating it and its folder if needed; with `readonly`, an existing file
 * that nothing is written to (SQLite refuses writes on the connection, whoever runs it).
 */
export const openDatabase = (
  path: string,
  options: { busyTimeoutMs: number; synchronous: Synchronous; readonly?: boolean },
): Connection => {
  const Database = loadDriver();
  if (options.readonly) {
    if (needsImage(path)) {
      // SQLite reads a WAL file only with its -shm file next to it, which it cannot make in a
      // folder nobody may write (and root must not). So the file is read into memory, and the
      // copy's header marks it as not WAL; the file itself is never touched.
      const image = readFileSync(path);
      image[18] = 1;
      image[19] = 1;
      return new Database(image, { readonly: true });
    }
    // No pragma either: setting the journal mode is a write.
    return new Database(path, {
      readonly: true,
      fileMustExist: true,
      timeout: options.busyTimeoutMs,
    });
  }
  if (isFile(path)) makeFolder(dirname(path));
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

/** A WAL file (its header says so) with no WAL content, in a folder that may not be written. */
const needsImage = (path: string): boolean => {
  const folder = dirname(path);
  let writable = (statSync(folder).mode & 0o222) !== 0;
  try {
    accessSync(folder, constants.W_OK);
  } catch {
    writable = false;
  }
  if (writable) return false;
  // Commits still in the -wal file are read through it, which SQLite can do when it exists.
  if (existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0) return false;
  const header = Buffer.alloc(2);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, 2, 18);
  } finally {
    closeSync(fd);
  }
  return header[0] === 2 && header[1] === 2;
};

export const isBusy = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
};
