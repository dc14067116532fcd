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

/**
 * How the pool a PostgreSQL store opens from a `connectionString` guards against a server that
 * stops answering without closing its connections (a failover whose old primary vanished, a
 * network partition): each is a number of milliseconds, `Infinity` for none. Not for a pool
 * you pass in: set `connectionTimeoutMillis`, `keepAlive` and `keepAliveInitialDelayMillis` on
 * it yourself.
 *
 * @example
 * ```ts
 * // A read store whose projections run statements that may keep the server silent 2 minutes.
 * createPostgresReadStore({ connectionString }, { queryTimeoutMs: 120_000 });
 * ```
 */
export interface PostgresTimeoutOptions {
  /**
   * Longest wait to open a connection, or for a free one of the pool; default 10 000. Past it
   * the call fails as unreachable (`STORE_UNREACHABLE`), or with pg's `timeout exceeded when
   * trying to connect` when the pool had no free connection: both transient errors.
   */
  connectTimeoutMs?: number;
  /**
   * Longest time the server may stay silent while a call waits for its answer; default 30 000.
   * Past it the connection is closed and the call fails with `STORE_TIMEOUT`, a transient
   * error. Silence, not duration: a long read whose rows keep coming is not cut, and idle
   * connections (the live feed's LISTEN) are not watched. A statement that keeps the server
   * silent longer (waiting that long for a lock) needs a larger value.
   */
  queryTimeoutMs?: number;
  /** Idle time before TCP keepalive probes start on each connection; default 10 000. */
  keepAliveDelayMs?: number;
}
