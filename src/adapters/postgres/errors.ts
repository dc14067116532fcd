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
