/**
 * The types the PostgreSQL adapter's public API needs, written out here rather than taken from
 * `pg`: its declarations live in @types/pg, which a user of opledger has no reason to install,
 * and a type-check without `skipLibCheck` would fail on the import.
 */

/**
 * A `pg.Pool` (pg 8.x) the caller created and owns, described by the members opledger relies
 * on. Pass the real thing: the adapter uses the rest of its API (clients, LISTEN).
 */
export interface PostgresPool {
  connect(): Promise<unknown>;
  query(text: string, values?: unknown[]): Promise<unknown>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  end(): Promise<void>;
}

/**
 * Where a store connects: a URL (the store owns and ends its pool) or a pool the caller owns.
 * While an event store has live subscribers it holds one of the pool's connections for LISTEN,
 * so a caller's pool needs room for at least one more.
 */
export type PostgresConnection = { connectionString: string } | { pool: PostgresPool };
