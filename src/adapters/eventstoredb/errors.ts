import { OpledgerError, PeerDependencyMissingError } from '../../domain/errors.js';

/** The adapter was given options it cannot work with. */
export class EventStoreDbConfigError extends OpledgerError {
  constructor(problem: string) {
    super('INVALID_STORE_CONFIG', `EventStoreDB event store: ${problem}.`);
  }
}

/**
 * The client package a connection string needs is an optional peer dependency that is not
 * installed. A PeerDependencyMissingError (code DRIVER_MISSING), as for the other stores.
 */
export class MissingClientPackageError extends PeerDependencyMissingError {
  constructor(packageName: string, cause: unknown) {
    super(packageName, 'The EventStoreDB event store', { cause });
  }
}

/** The server ended a subscription that nobody unsubscribed and whose store is still open. */
export class SubscriptionDroppedError extends OpledgerError {
  constructor(cause?: unknown) {
    super(
      'SUBSCRIPTION_DROPPED',
      'The EventStoreDB server ended the subscription. Subscribe again after the last position you processed.',
      { cause },
    );
  }
}

/** The server leaves out something opledger needs (the global position of stream reads). */
export class UnsupportedServerError extends OpledgerError {
  constructor(problem: string) {
    super(
      'UNSUPPORTED_SERVER',
      `The EventStoreDB server ${problem}. opledger needs EventStoreDB 22.10 or later, or KurrentDB.`,
    );
  }
}
