import { OpledgerError, StoreClosedError } from '../../domain/errors.js';

/** The options given to a PostgreSQL store cannot work; nothing was sent to the server. */
export class PostgresStoreOptionsError extends OpledgerError {
  constructor(problem: string) {
    super('INVALID_OPTIONS', `PostgreSQL store options are invalid: ${problem}.`);
  }
}

/** The schema was migrated by a newer opledger: using it could misread or damage its data. */
export class PostgresSchemaTooNewError extends OpledgerError {
  constructor(
    readonly schema: string,
    readonly component: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      'SCHEMA_TOO_NEW',
      `The PostgreSQL ${component} schema '${schema}' is at version ${found}, newer than the ${supported} this opledger knows: upgrade opledger, or use another schema.`,
    );
  }
}

/** Still a StoreClosedError (same code, same instanceof), with a message naming the read store. */
export class ReadStoreClosedError extends StoreClosedError {
  constructor() {
    super();
    this.message = 'The read store is closed; create a new one to go on.';
  }
}

/**
 * The PostgreSQL server could not be reached (refused, unknown host, timed out, starting up).
 * Stores connect on first use, so this comes from the first call rather than from creating the
 * store; a later call tries again.
 */
export class PostgresUnreachableError extends OpledgerError {
  constructor(
    /** host:port/database, without user or password. */
    readonly server: string,
    cause: unknown,
  ) {
    const reason = (cause as { code?: unknown }).code;
    super(
      'STORE_UNREACHABLE',
      `Cannot connect to the PostgreSQL server at ${server}${typeof reason === 'string' ? ` (${reason})` : ''}. Check that the server runs and accepts connections there, and that the host and port are right.`,
      { cause },
    );
  }
}

/**
 * The server sent nothing for `silenceMs` while a call waited for its answer: the connection is
 * taken for black-holed (a failover whose old primary vanished without a reset, a partition)
 * and closed, never pooled again. Transient: the outage budget retries the call on a new
 * connection. Whether a write it carried was committed is unknown; the engine's appends find
 * out before they try again (see withStoreOutageRetry).
 */
export class PostgresQueryTimeoutError extends OpledgerError {
  constructor(
    /** host:port/database, without user or password. */
    readonly server: string,
    readonly silenceMs: number,
  ) {
    super(
      'STORE_TIMEOUT',
      `The PostgreSQL server at ${server} sent nothing for ${silenceMs} ms while a call waited for its answer (queryTimeoutMs): the connection was closed. A network partition or a failover is the usual cause; a statement that is legitimately silent longer needs a larger queryTimeoutMs.`,
    );
  }
}
