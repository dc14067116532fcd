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

/**
 * The node refused the write because it is not the leader (a follower or a read-only replica),
 * even after the adapter followed it once to the leader it named. Nothing was written.
 */
export class NotLeaderError extends OpledgerError {
  constructor(stream: string, leader: string | undefined, cause: unknown) {
    super(
      'NOT_LEADER',
      `The EventStoreDB node refused the append to '${stream}' because it is not the leader${leader ? ` (it names ${leader})` : ''}, also after following it once; nothing was written. Connect to the leader, or use a connection string that discovers it (esdb+discover://, nodePreference=leader).`,
      { cause },
    );
  }
}

/**
 * The append's deadline passed, or the server timed out committing it: it may or may not have
 * been written. Not retried by the adapter, because retrying an append without an expected
 * version could write it twice. Retry with the same expected version: a ConcurrencyError then
 * says the first attempt landed.
 */
export class AppendOutcomeUnknownError extends OpledgerError {
  constructor(stream: string, cause: unknown) {
    super(
      'APPEND_OUTCOME_UNKNOWN',
      `The append to '${stream}' timed out: EventStoreDB may or may not have written it. Read the stream, or retry with an expected version (a conflict then means it was written).`,
      { cause },
    );
  }
}
