/**
 * The types the SQLite adapter's public API needs, written out here rather than taken from
 * better-sqlite3: its declarations live in @types/better-sqlite3, which a user of opledger has
 * no reason to install, and a type-check without `skipLibCheck` would fail on the import.
 */

/**
 * An open better-sqlite3 `Database` (`new Database(path)`, better-sqlite3 12.x), described by
 * the members opledger relies on. Pass the real thing: the adapter uses the rest of its API.
 */
export interface SqliteDatabase {
  readonly open: boolean;
  readonly inTransaction: boolean;
  prepare(source: string): unknown;
  exec(source: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
}

/**
 * 'full' syncs the WAL on every commit: an acknowledged write survives a power cut. 'normal'
 * syncs at checkpoints only: still safe against a process crash, never corrupt, but a power cut
 * may lose the last commits.
 */
export type Synchronous = 'full' | 'normal';
