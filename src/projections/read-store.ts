import type { StoreOutageTraits } from '../domain/event-store.js';
import type { LogLine } from '../domain/log-lines.js';
import type { OperationState } from '../domain/operation.js';

/** An operation as the read side keeps it: its folded state plus what queries filter on. */
export interface OperationRecord {
  id: string;
  environment: string;
  resourceType: string;
  resourceHandle: string;
  type: string;
  status: OperationState['status'];
  createdAt: string;
  /** Revision of the last event applied: a redelivered event at or below it changes nothing. */
  lastRevision: number;
  /** The full folded state: the next event is applied to it. */
  state: OperationState;
}

export interface ResourceRecord {
  environment: string;
  type: string;
  handle: string;
  /** 'provisioning' while its first provision runs; 'deprovisioned' if that provision failed. */
  status: 'provisioning' | 'provisioned' | 'deprovisioned';
  release?: string;
  lastOperationId: string;
  lastOperationType: string;
  lastOperationAt: string;
}

export interface EnvironmentRecord {
  environment: string;
  status: 'active' | 'deprovisioned';
  firstOperationAt: string;
  deprovisionedAt?: string;
  /**
   * Global position (decimal) of the last deprovision: operations requested at or before it
   * belong to a past lifetime and are never projected again, even if redelivered.
   */
  purgedThrough?: string;
}

export interface OperationQuery {
  environment: string;
  resource?: { type: string; handle: string };
  status?: OperationState['status'] | readonly OperationState['status'][];
  type?: string;
  /** created_at in [from, to): ISO 8601 UTC */
  from?: string;
  to?: string;
  limit: number;
  offset: number;
}

/**
 * A stored event that a projection passes over without applying it, because an operator said so
 * (`Projector.skip`, `opledger projections:skip`): who, when and why, with what could not be
 * read. Written with the checkpoint that moves past the event, in the same transaction.
 */
export interface SkippedEvent {
  /** Global position of the event (decimal). */
  position: string;
  stream: string;
  /** Its revision in `stream` (decimal). */
  revision: string;
  /** The error's code (`INVALID_STORED_EVENT`, `UNKNOWN_EVENT_TYPE`) and message. */
  code: string;
  problem: string;
  user: string;
  /** ISO 8601 UTC. */
  at: string;
  reason: string;
}

/**
 * The built-in read model's reads and writes answered at once, without a promise: offered by a
 * read store whose transaction is synchronous underneath (in memory; SQLite, whose driver is).
 * A projector's batch then applies its events with no promise and no turn of the event loop per
 * event or per record (a rebuild's largest cost beyond the work itself). Same rows, same
 * transaction, same rules as the promise-returning methods beside it.
 */
export interface ReadModelTransactionNow {
  getOperation(id: string): OperationRecord | undefined;
  putOperation(record: OperationRecord): void;
  putLogLine(line: LogLine): void;
  getResource(environment: string, type: string, handle: string): ResourceRecord | undefined;
  putResource(record: ResourceRecord): void;
  getEnvironment(environment: string): EnvironmentRecord | undefined;
  putEnvironment(record: EnvironmentRecord): void;
}

/** Writes of one projection batch; the store applies them and the checkpoint atomically. */
export interface ReadModelTransaction {
  /** Present when the store can answer at once (see ReadModelTransactionNow). */
  readonly now?: ReadModelTransactionNow;
  getOperation(id: string): Promise<OperationRecord | undefined>;
  putOperation(record: OperationRecord): Promise<void>;
  /** Idempotent on (operationId, revision). */
  putLogLine(line: LogLine): Promise<void>;
  getResource(
    environment: string,
    type: string,
    handle: string,
  ): Promise<ResourceRecord | undefined>;
  putResource(record: ResourceRecord): Promise<void>;
  getEnvironment(environment: string): Promise<EnvironmentRecord | undefined>;
  putEnvironment(record: EnvironmentRecord): Promise<void>;
  /** Deletes every operation, log line and resource of the environment (not its tombstone). */
  purgeEnvironment(environment: string): Promise<void>;
  /** Records a skip of the transaction's projection (at most one per position: the last wins). */
  putSkippedEvent(skip: SkippedEvent): Promise<void>;
  /** A document of a user-defined projection, as the JSON text it was stored as. */
  getDocument(collection: string, key: string): Promise<string | undefined>;
  /** Stores (or replaces) a document as JSON text. */
  putDocument(collection: string, key: string, json: string): Promise<void>;
}

/** One stored document of a user-defined projection. */
export interface StoredDocument {
  key: string;
  /** The document as JSON text. */
  json: string;
}

/**
 * The read-store port: where projections keep Operation Logs, Activity Report rows and
 * resource state, together with each projection's checkpoint.
 */
export interface ReadStore {
  /**
   * Where the store is and which of its errors mean "unreachable now" (as an event store's): a
   * projector rides out those (`storeOutage`), the dashboard answers them with a 503. A read
   * store without it (the in-memory one) is never waited for.
   */
  readonly outage?: StoreOutageTraits;
  checkpoint(projection: string): Promise<bigint>;
  /** Runs `apply` and moves the checkpoint to `position` in one transaction. */
  transaction(
    projection: string,
    position: bigint,
    apply: (tx: ReadModelTransaction) => Promise<void>,
  ): Promise<void>;
  /**
   * Forgets every read model and the projection's checkpoint (before a rebuild). A read store
   * holds the models of one projector, so this clears all its rows. The projection's skipped
   * events stay: a rebuild passes over them as the first run did.
   */
  reset(projection: string): Promise<void>;
  /** The events the projection was told to skip, by position. */
  skippedEvents(projection: string): Promise<SkippedEvent[]>;

  /** A document of a user-defined projection (JSON text), or undefined. */
  document(collection: string, key: string): Promise<string | undefined>;
  /**
   * Documents of a collection in key order (UTF-8 byte order), those after `after`, at most
   * `limit`: a page of a keyset listing.
   */
  documents(collection: string, page: { after?: string; limit: number }): Promise<StoredDocument[]>;
  /** The version a user-defined projection was last built with, if it ever ran. */
  projectionVersion(projection: string): Promise<number | undefined>;
  /**
   * Forgets the documents of `collections` and the projection's checkpoint, and records
   * `version` as the one its documents are now built with, in one transaction. Its skipped
   * events stay. Touches no other projection and not the built-in read model.
   */
  resetProjection(
    projection: string,
    version: number,
    collections: readonly string[],
  ): Promise<void>;

  operation(id: string): Promise<OperationRecord | undefined>;
  logLines(operationId: string): Promise<LogLine[]>;
  /** Newest first (createdAt, then id). */
  listOperations(query: OperationQuery): Promise<{ items: OperationRecord[]; total: number }>;
  /** Operations created in [from, to), oldest first, read page by page. */
  operationsCreatedBetween(
    environment: string,
    from: string,
    to: string,
  ): AsyncIterable<OperationRecord>;
  resource(environment: string, type: string, handle: string): Promise<ResourceRecord | undefined>;
  resources(environment: string): Promise<ResourceRecord[]>;
  environment(environment: string): Promise<EnvironmentRecord | undefined>;
  /**
   * Every environment the projection knows, by name (byte order): those with a lifetime
   * running, and the tombstones of deprovisioned ones. The projection records an environment
   * with its first operation, so these are the environments that have ever had one.
   */
  environments(): Promise<EnvironmentRecord[]>;
  /** created_at of every operation of the environment, for the weekly report listing. */
  operationDates(environment: string): Promise<string[]>;
  close(): Promise<void>;
}
