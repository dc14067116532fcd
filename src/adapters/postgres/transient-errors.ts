import { StoreClosedError } from '../../domain/errors.js';
import { isUnreachable } from './connection.js';
import { PostgresQueryTimeoutError, PostgresUnreachableError } from './errors.js';

// Every PostgreSQL failure that says "the server cannot be reached now" rather than "this call
// is wrong", in one place: the engine waits these out (createEngine's storeOutage).

/** Socket failures on a connection that was open, or could not be opened. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server going away or not there yet: 57P01 admin_shutdown (a fast shutdown or
 * pg_terminate_backend), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up, shutting
 * down, in recovery), 53300 too_many_connections (a pool that cannot connect: a failover's
 * reconnect storm), 08xxx connection exceptions.
 */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

// pg reports a connection that ended under a query, or a pool's connect timeout, without a code.
const TRANSIENT_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|terminating connection due to administrator command)/;

/**
 * Whether a PostgreSQL store's error is a transient one (see above). The store being closed is
 * not: it will not come back.
 *
 * @example
 * ```ts
 * isTransientPostgresError(Object.assign(new Error('terminating connection'), { code: '57P01' })); // true
 * isTransientPostgresError(new ConcurrencyError('s', 'revision 1', 2n)); // false
 * ```
 */
export const isTransientPostgresError = (error: unknown): boolean => {
  if (typeof error !== 'object' || error === null) return false;
  if (error instanceof StoreClosedError) return false;
  if (error instanceof PostgresUnreachableError || isUnreachable(error)) return true;
  // A connection closed because the server stayed silent (queryTimeoutMs): a black hole.
  if (error instanceof PostgresQueryTimeoutError) return true;
  if (error instanceof AggregateError && error.errors.some(isTransientPostgresError)) return true;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || TRANSIENT_SQLSTATES.has(code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  return typeof message === 'string' && TRANSIENT_MESSAGES.test(message);
};
