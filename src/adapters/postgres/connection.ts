import { createHash } from 'node:crypto';
import type PgModule from 'pg';
import { Socket } from 'node:net';
import type { ClientConfig, CustomTypesConfig, Pool, PoolClient } from 'pg';
import { requirePeer } from '../peer-dependency.js';
import {
  PostgresQueryTimeoutError,
  PostgresStoreOptionsError,
  PostgresUnreachableError,
} from './errors.js';
import type { PostgresConnection, PostgresTimeoutOptions } from './public-types.js';

// Loaded when a store opens its pool rather than imported: pg is an optional peer dependency,
// so importing opledger (or this adapter, or createStore) must work where it is not installed.
const loadPg = (): typeof PgModule =>
  requirePeer<typeof PgModule>({ name: 'pg', version: '8', neededFor: 'The PostgreSQL store' });

export const DEFAULT_SCHEMA = 'opledger';

export type Queryable = Pool | PoolClient;

export type TextRow = Record<string, string | null>;

export interface PoolHandle {
  pool: Pool;
  /** Ends the pool if the store created it; a caller's pool is left for the caller to end. */
  end(): Promise<void>;
  /**
   * A failure to reach the server as PostgresUnreachableError (naming the server, never its
   * password); any other error as it is.
   */
  explain(error: unknown): unknown;
  /** host:port/database, for messages: never the user or password. */
  server: string;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_QUERY_TIMEOUT_MS = 30_000;
export const DEFAULT_KEEPALIVE_DELAY_MS = 10_000;

// Node's timers hold at most 2^31 - 1 ms; a larger delay would fire after 1 ms instead.
const MAX_TIMER_MS = 2_147_483_647;

const TIMEOUT_NAMES = ['connectTimeoutMs', 'queryTimeoutMs', 'keepAliveDelayMs'] as const;

const checkedTimeout = (name: string, value: number | undefined, fallback: number): number => {
  if (value === undefined) return fallback;
  if (value === Infinity) return value;
  if (typeof value !== 'number' || !(value > 0) || value > MAX_TIMER_MS) {
    throw new PostgresStoreOptionsError(
      `${name} must be a positive number of milliseconds up to ${MAX_TIMER_MS}, or Infinity for none; not ${String(value)}`,
    );
  }
  return value;
};

/**
 * Opens the store's pool, or takes the caller's. A pool opened here gets `timeouts` (see
 * PostgresTimeoutOptions): without them a black-holed connection holds a call for as long as
 * TCP takes to give up, minutes, and the outage budget never gets to run.
 */
export const openPool = (
  connection: PostgresConnection,
  timeouts: PostgresTimeoutOptions = {},
): PoolHandle => {
  const given = TIMEOUT_NAMES.filter((name) => timeouts[name] !== undefined);
  const connectMs = checkedTimeout(
    'connectTimeoutMs',
    timeouts.connectTimeoutMs,
    DEFAULT_CONNECT_TIMEOUT_MS,
  );
  const silenceMs = checkedTimeout(
    'queryTimeoutMs',
    timeouts.queryTimeoutMs,
    DEFAULT_QUERY_TIMEOUT_MS,
  );
  const keepAliveMs = checkedTimeout(
    'keepAliveDelayMs',
    timeouts.keepAliveDelayMs,
    DEFAULT_KEEPALIVE_DELAY_MS,
  );
  if ('pool' in connection) {
    // The caller's pool is configured by the caller: its connections may carry the caller's own
    // statements, which no timeout of ours should cut.
    if (given.length > 0) {
      throw new PostgresStoreOptionsError(
        `${given.join(', ')} apply to the pool the store opens from a connectionString; on a pool you pass in, set connectionTimeoutMillis, keepAlive and keepAliveInitialDelayMillis yourself`,
      );
    }
    // The public option is a structural type (see public-types.ts); at run time it is a pg.Pool.
    const pool = connection.pool as unknown as Pool;
    const server = serverOfPool(pool);
    return { pool, end: async () => undefined, explain: explainWith(server), server };
  }
  if (!connection.connectionString) {
    throw new PostgresStoreOptionsError('connectionString is empty');
  }
  const pg = loadPg();
  const server = serverOfUrl(connection.connectionString);
  const pool = new pg.Pool({
    connectionString: connection.connectionString,
    ...(silenceMs === Infinity ? {} : { Client: silenceWatchedClient(pg, silenceMs, server) }),
    // pg: 0 is no timeout. It bounds a connection's opening and a wait for a free client alike.
    connectionTimeoutMillis: connectMs === Infinity ? 0 : connectMs,
    keepAlive: keepAliveMs !== Infinity,
    ...(keepAliveMs === Infinity ? {} : { keepAliveInitialDelayMillis: keepAliveMs }),
  });
  // The server may drop an idle connection (restart, idle timeout): without a listener that
  // would crash the process, while the next query simply opens a new connection.
  pool.on('error', () => undefined);
  return { pool, end: () => pool.end(), explain: explainWith(server), server };
};

/**
 * A pg client class whose connections close when their server stays silent for `silenceMs`
 * while a call waits for its answer, failing that call (and any queued behind it) with a
 * PostgresQueryTimeoutError.
 *
 * Keepalive alone cannot do it: probes are sent only on a connection with nothing unacknowledged
 * in flight, and a black-holed request is retransmitted for up to 15 minutes first. pg's own
 * `query_timeout` is not it either: it bounds a query's whole duration (a long read streaming
 * rows would be cut), and does not close the connection it gave up on.
 *
 * Only pg's public API is used (the `stream` and `Client` options): each client gets a socket
 * we create, so we hold it without reaching into pg's connection, and closeWhenSilent counts
 * its calls in flight itself, so no private field of pg's says whether one waits.
 */
const silenceWatchedClient = (
  pg: typeof PgModule,
  silenceMs: number,
  server: string,
): typeof PgModule.Client =>
  class SilenceWatchedClient extends pg.Client {
    constructor(config?: ClientConfig) {
      const socket = new Socket();
      // A factory, not the socket itself: the form pg's types declare. With TLS, pg wraps this
      // socket; its inactivity timer still sees the encrypted traffic, and destroying it fails
      // the TLS stream with the same error.
      super({ ...config, stream: () => socket });
      closeWhenSilent(
        this,
        socket,
        silenceMs,
        () => new PostgresQueryTimeoutError(server, silenceMs),
      );
    }
  };

/** What closeWhenSilent needs of a client: its `query`, which it wraps. */
export interface CountableClient {
  query: (...args: never[]) => unknown;
}

/** What closeWhenSilent needs of a socket (a net.Socket). */
export interface SilenceTimedSocket {
  setTimeout(ms: number): unknown;
  on(event: 'timeout', listener: () => void): unknown;
  destroy(error?: Error): unknown;
}

/**
 * Wraps `client.query` to count the calls waiting for their answer (from the call until its
 * promise settles or its callback runs), and destroys `socket` with `silent()` when it has
 * carried nothing, neither way, for `silenceMs` while one does. Idle connections (pooled, or
 * LISTENing for the live feed) are left alone: there the timer's event finds no call waiting and
 * is ignored; the next call's bytes start the count of silence again.
 *
 * @returns how many calls are in flight now (for tests).
 * @example
 * ```ts
 * const socket = new Socket();
 * const client = new pg.Client({ connectionString, stream: () => socket });
 * closeWhenSilent(client, socket, 30_000, () => new Error('silent'));
 * ```
 */
export const closeWhenSilent = (
  client: CountableClient,
  socket: SilenceTimedSocket,
  silenceMs: number,
  silent: () => Error,
): { inFlight: () => number } => {
  let inFlight = 0;
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => {
    inFlight += 1;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      inFlight -= 1;
    };
    const callbackAt = args.findIndex((arg) => typeof arg === 'function');
    if (callbackAt >= 0) {
      const callback = args[callbackAt] as (...results: unknown[]) => unknown;
      args[callbackAt] = (...results: unknown[]) => {
        settle();
        return callback(...results);
      };
    } else if (isQueryConfigWithCallback(args[0])) {
      const config = args[0];
      args[0] = {
        ...config,
        callback: (...results: unknown[]) => {
          settle();
          return config.callback(...results);
        },
      };
    } else if (isSubmittable(args[0])) {
      // A Query or cursor object: pg returns it, and it reports its end by its events.
      args[0].once('end', settle);
      args[0].once('error', settle);
    }
    let result: unknown;
    try {
      result = query(...args);
    } catch (error) {
      settle();
      throw error;
    }
    if (isThenable(result)) result.then(settle, settle);
    return result;
  }) as CountableClient['query'];
  socket.setTimeout(silenceMs);
  socket.on('timeout', () => {
    if (inFlight > 0) socket.destroy(silent());
  });
  return { inFlight: () => inFlight };
};

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as { then?: unknown } | null)?.then === 'function';

const isQueryConfigWithCallback = (
  value: unknown,
): value is { callback: (...results: unknown[]) => unknown } =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { callback?: unknown }).callback === 'function' &&
  typeof (value as { submit?: unknown }).submit !== 'function';

const isSubmittable = (
  value: unknown,
): value is { once(event: string, listener: () => void): unknown } =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { submit?: unknown }).submit === 'function' &&
  typeof (value as { once?: unknown }).once === 'function';

/** host:port/database of a connection URL, for messages: never its user or password. */
const serverOfUrl = (connectionString: string): string => {
  try {
    const url = new URL(connectionString);
    const host = url.hostname || url.searchParams.get('host') || 'localhost';
    return `${host}:${url.port || '5432'}${url.pathname.length > 1 ? url.pathname : ''}`;
  } catch {
    return 'the server its connection string names';
  }
};

const serverOfPool = (pool: Pool): string => {
  const options = (
    pool as { options?: { host?: string; port?: number; connectionString?: string } }
  ).options;
  if (options?.connectionString) return serverOfUrl(options.connectionString);
  return `${options?.host ?? process.env.PGHOST ?? 'localhost'}:${options?.port ?? process.env.PGPORT ?? 5432}`;
};

// Failures to open a connection at all. Errors on a connection that was open (ECONNRESET, a
// server shutting down) keep their own message: they say more than "unreachable".
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  // A Unix socket path with no server listening.
  'ENOENT',
  // "the database system is starting up" (or shutting down, in recovery).
  '57P03',
]);

export const isUnreachable = (error: unknown): boolean => {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
  // Node tries each address of a name (localhost: ::1, then 127.0.0.1) and reports them all.
  if (error instanceof AggregateError) return error.errors.some(isUnreachable);
  // pg's own connectionTimeoutMillis.
  return (
    typeof message === 'string' && /^Connection terminated due to connection timeout/.test(message)
  );
};

const explainWith =
  (server: string) =>
  (error: unknown): unknown =>
    isUnreachable(error) ? new PostgresUnreachableError(server, error) : error;

const asText = (value: string): string => value;

/**
 * Every value comes back as PostgreSQL's text and is converted here, so that type parsers a
 * caller registered globally on `pg` (int8 as number, jsonb revivers) cannot change what the
 * stores return or lose bigint precision.
 */
const TEXT_TYPES = { getTypeParser: () => asText } as unknown as CustomTypesConfig;

/**
 * Runs a query and returns its rows as text. With `prepared`, the statement is named after its
 * text, so each connection parses and plans it once instead of on every call (the hot paths of
 * the event store: bench/RESULTS.md has the figures).
 */
export const queryText = async (
  db: Queryable,
  text: string,
  values: unknown[] = [],
  { prepared = false }: { prepared?: boolean } = {},
): Promise<TextRow[]> =>
  (
    await db.query<TextRow>({
      text,
      values,
      types: TEXT_TYPES,
      ...(prepared ? { name: statementName(text) } : {}),
    })
  ).rows;

/**
 * Runs `work` in a transaction on a client of `pool`: `begin` (BEGIN by default; a statement
 * may follow it, e.g. taking an advisory lock), then COMMIT, or ROLLBACK when anything throws.
 * A client whose rollback failed is in an unknown state: it is closed, never pooled again.
 * `done` runs as the transaction ends, either way, before the client goes back to the pool.
 *
 * @example
 * ```ts
 * await inTransaction(pool, (client) => client.query('UPDATE t SET n = n + 1'));
 * ```
 */
export const inTransaction = async <T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
  { begin = 'BEGIN', done }: { begin?: string; done?: () => void } = {},
): Promise<T> => {
  const client = await pool.connect();
  // A checked-out client has no listener of the pool's: a connection dropped between two of its
  // queries (a failover, a reset) would be an 'error' event nobody hears, which ends the
  // process. Heard here, it only fails the next query, as a transient error the caller retries.
  let dropped: Error | undefined;
  const onDropped = (error: Error) => {
    dropped = error;
  };
  client.on('error', onDropped);
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    done?.();
    client.off('error', onDropped);
    // A dropped connection never goes back to the pool.
    client.release(broken ?? dropped);
  }
};

const statementNames = new Map<string, string>();

/** One name per text: two stores on different schemas share a pool without clashing. */
const statementName = (text: string): string => {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `opledger_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name;
};

const MAX_IDENTIFIER_BYTES = 63;

/** Quotes a schema or channel name; PostgreSQL would silently truncate a longer one. */
export const quoteIdentifier = (name: string, what = 'schema'): string => {
  if (name.length === 0) throw new PostgresStoreOptionsError(`the ${what} name is empty`);
  if (name.includes('\u0000')) {
    throw new PostgresStoreOptionsError(`the ${what} name contains a NUL character`);
  }
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
    throw new PostgresStoreOptionsError(
      `the ${what} name '${name}' is longer than ${MAX_IDENTIFIER_BYTES} bytes`,
    );
  }
  return `"${name.replaceAll('"', '""')}"`;
};

/** A stable 64-bit key for pg_advisory_xact_lock, one per purpose and schema. */
export const advisoryKey = (...parts: string[]): string =>
  createHash('sha256')
    .update(['opledger', ...parts].join('\u0000'))
    .digest()
    .readBigInt64BE(0)
    .toString();

export const requiredText = (row: TextRow, column: string): string => {
  const value = row[column];
  if (value === null || value === undefined) throw new Error(`column ${column} is NULL`);
  return value;
};

export const optionalText = (row: TextRow, column: string): string | undefined =>
  row[column] ?? undefined;
