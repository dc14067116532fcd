import type * as EventStoreDbPackage from '@eventstore/db-client';
import type * as KurrentDbPackage from '@kurrent/kurrentdb-client';
import type { ExpectedVersion } from '../../domain/event-store.js';
import type {
  ClientFilter,
  ClientJsonData,
  ClientJsonEventData,
  ClientStreamState,
  EventStoreDbClient,
} from './client-shape.js';
import { isPackageNotFound } from '../peer-dependency.js';
import { MissingClientPackageError } from './errors.js';

/**
 * The one place that knows how @eventstore/db-client (6.x) and its successor
 * @kurrent/kurrentdb-client (1.x) differ. Same concepts, renamed fields:
 *
 * | what                               | @eventstore/db-client      | @kurrent/kurrentdb-client |
 * | ---------------------------------- | -------------------------- | ------------------------- |
 * | appendToStream's expected version  | `expectedRevision`         | `streamState`             |
 * | WrongExpectedVersionError fields   | `expectedVersion`, `actualVersion` | `expectedState`, `actualState` |
 * | client class                       | `EventStoreDBClient`       | `KurrentDBClient`         |
 * | connection string schemes          | esdb, esdb+discover        | kurrentdb, kurrent, kdb (+discover) |
 *
 * Both packages are optional peer dependencies: they are only imported here, lazily, so that
 * importing opledger loads neither. Each mapping is type-checked against its package, so a
 * rename in a later release breaks the build rather than silently dropping the expected version.
 */
export type ClientFlavour = 'eventstoredb' | 'kurrentdb';

/** What the adapter takes from a client package at run time. */
export interface ClientPackage {
  readonly START: 'start';
  readonly END: 'end';
  readonly FORWARDS: 'forwards';
  readonly BACKWARDS: 'backwards';
  readonly ANY: 'any';
  readonly NO_STREAM: 'no_stream';
  readonly STREAM_EXISTS: 'stream_exists';
  /** `ErrorType` values, the discriminant every client error carries as `type`. */
  readonly WRONG_EXPECTED_VERSION: string;
  readonly STREAM_NOT_FOUND: string;
  /** The connection failed or was cut (the server went away, restarted, or refused the call). */
  readonly UNAVAILABLE: string;
  /** The server cancelled the call (a server shutting down cancels its subscriptions). */
  readonly CANCELLED: string;
  /** The node is not the leader; the error names the leader, and the client reconnects to it. */
  readonly NOT_LEADER: string;
  /** The call's deadline passed (DEADLINE_EXCEEDED, or a packed Timeout on BatchAppend). */
  readonly DEADLINE_EXCEEDED: string;
  /** The server timed out the operation (ABORTED): a CommitTimeout may still be written. */
  readonly TIMEOUT: string;
  jsonEvent(event: {
    type: string;
    data: ClientJsonData;
    metadata: Record<string, unknown>;
  }): ClientJsonEventData;
  excludeSystemEvents(): ClientFilter;
  streamNamePrefixFilter(prefix: string): ClientFilter;
  connect(connectionString: string): EventStoreDbClient;
}

export interface ClientDialect {
  readonly flavour: ClientFlavour;
  readonly packageName: '@eventstore/db-client' | '@kurrent/kurrentdb-client';
  /** Imports the package (once). */
  load(): Promise<ClientPackage>;
  /** appendToStream's options for an expected stream state. */
  appendOptions(state: ClientStreamState): object;
  /** The state a WrongExpectedVersionError reports the stream at; undefined when it has none. */
  actualStateOf(error: object): unknown;
}

const loadEventStoreDb = async (): Promise<ClientPackage> => {
  const pkg = await import('@eventstore/db-client');
  return {
    START: pkg.START,
    END: pkg.END,
    FORWARDS: pkg.FORWARDS,
    BACKWARDS: pkg.BACKWARDS,
    ANY: pkg.ANY,
    NO_STREAM: pkg.NO_STREAM,
    STREAM_EXISTS: pkg.STREAM_EXISTS,
    WRONG_EXPECTED_VERSION: pkg.ErrorType.WRONG_EXPECTED_VERSION,
    STREAM_NOT_FOUND: pkg.ErrorType.STREAM_NOT_FOUND,
    UNAVAILABLE: pkg.ErrorType.UNAVAILABLE,
    CANCELLED: pkg.ErrorType.CANCELLED,
    NOT_LEADER: pkg.ErrorType.NOT_LEADER,
    DEADLINE_EXCEEDED: pkg.ErrorType.DEADLINE_EXCEEDED,
    TIMEOUT: pkg.ErrorType.TIMEOUT,
    jsonEvent: ({ type, data, metadata }) => pkg.jsonEvent({ type, data, metadata }),
    excludeSystemEvents: () => pkg.excludeSystemEvents(),
    streamNamePrefixFilter: (prefix) => pkg.streamNameFilter({ prefixes: [prefix] }),
    connect: (connectionString) => pkg.EventStoreDBClient.connectionString(connectionString),
  };
};

const loadKurrentDb = async (): Promise<ClientPackage> => {
  const pkg = await import('@kurrent/kurrentdb-client');
  return {
    START: pkg.START,
    END: pkg.END,
    FORWARDS: pkg.FORWARDS,
    BACKWARDS: pkg.BACKWARDS,
    ANY: pkg.ANY,
    NO_STREAM: pkg.NO_STREAM,
    STREAM_EXISTS: pkg.STREAM_EXISTS,
    WRONG_EXPECTED_VERSION: pkg.ErrorType.WRONG_EXPECTED_VERSION,
    STREAM_NOT_FOUND: pkg.ErrorType.STREAM_NOT_FOUND,
    UNAVAILABLE: pkg.ErrorType.UNAVAILABLE,
    CANCELLED: pkg.ErrorType.CANCELLED,
    NOT_LEADER: pkg.ErrorType.NOT_LEADER,
    DEADLINE_EXCEEDED: pkg.ErrorType.DEADLINE_EXCEEDED,
    TIMEOUT: pkg.ErrorType.TIMEOUT,
    jsonEvent: ({ type, data, metadata }) => pkg.jsonEvent({ type, data, metadata }),
    excludeSystemEvents: () => pkg.excludeSystemEvents(),
    streamNamePrefixFilter: (prefix) => pkg.streamNameFilter({ prefixes: [prefix] }),
    connect: (connectionString) => pkg.KurrentDBClient.connectionString(connectionString),
  };
};

const cached = (
  packageName: ClientDialect['packageName'],
  load: () => Promise<ClientPackage>,
): (() => Promise<ClientPackage>) => {
  let loading: Promise<ClientPackage> | undefined;
  return () =>
    (loading ??= load().catch((cause: unknown) => {
      // Not cached: installing the package later and retrying must work.
      loading = undefined;
      throw isPackageNotFound(cause, packageName)
        ? new MissingClientPackageError(packageName, cause)
        : cause;
    }));
};

export const eventStoreDbDialect: ClientDialect = {
  flavour: 'eventstoredb',
  packageName: '@eventstore/db-client',
  load: cached('@eventstore/db-client', loadEventStoreDb),
  appendOptions: (state) =>
    ({ expectedRevision: state }) satisfies EventStoreDbPackage.AppendToStreamOptions,
  actualStateOf: (error) =>
    (error as Partial<Pick<EventStoreDbPackage.WrongExpectedVersionError, 'actualVersion'>>)
      .actualVersion,
};

export const kurrentDbDialect: ClientDialect = {
  flavour: 'kurrentdb',
  packageName: '@kurrent/kurrentdb-client',
  load: cached('@kurrent/kurrentdb-client', loadKurrentDb),
  appendOptions: (state) =>
    ({ streamState: state }) satisfies KurrentDbPackage.AppendToStreamOptions,
  actualStateOf: (error) =>
    (error as Partial<Pick<KurrentDbPackage.WrongExpectedVersionError, 'actualState'>>).actualState,
};

export const dialects: Readonly<Record<ClientFlavour, ClientDialect>> = {
  eventstoredb: eventStoreDbDialect,
  kurrentdb: kurrentDbDialect,
};

const schemes: Readonly<Record<string, ClientFlavour>> = {
  esdb: 'eventstoredb',
  'esdb+discover': 'eventstoredb',
  kurrentdb: 'kurrentdb',
  'kurrentdb+discover': 'kurrentdb',
  kurrent: 'kurrentdb',
  'kurrent+discover': 'kurrentdb',
  kdb: 'kurrentdb',
  'kdb+discover': 'kurrentdb',
};

/** The flavour a connection string's scheme asks for; undefined when it is neither's. */
export const flavourOfConnectionString = (connectionString: string): ClientFlavour | undefined => {
  const scheme = /^([a-z+]+):\/\//i.exec(connectionString.trim())?.[1]?.toLowerCase();
  return scheme !== undefined && Object.hasOwn(schemes, scheme) ? schemes[scheme] : undefined;
};

/**
 * Which package a client instance comes from. KurrentDBClient runs on a native bridge
 * (`rustClient`) and added multi-stream appends; EventStoreDBClient 6.x has neither.
 */
export const flavourOfClient = (client: object): ClientFlavour =>
  'rustClient' in client ||
  typeof (client as { multiStreamAppend?: unknown }).multiStreamAppend === 'function'
    ? 'kurrentdb'
    : 'eventstoredb';

/** opledger's expected version in the packages' terms; -1n ("no stream") becomes NO_STREAM. */
export const toClientStreamState = (
  expected: ExpectedVersion,
  pkg: ClientPackage,
): ClientStreamState => {
  switch (expected) {
    case 'any':
      return pkg.ANY;
    case 'no_stream':
      return pkg.NO_STREAM;
    case 'stream_exists':
      return pkg.STREAM_EXISTS;
    default:
      return expected === -1n ? pkg.NO_STREAM : expected;
  }
};

/** A stream state the packages report, as an opledger revision (NO_STREAM is -1n). */
export const revisionOfClientState = (state: unknown, pkg: ClientPackage): bigint | undefined => {
  if (state === pkg.NO_STREAM) return -1n;
  if (typeof state === 'bigint') return state < 0n ? -1n : state;
  return undefined;
};

const hasType = (error: unknown, type: string): error is object =>
  typeof error === 'object' && error !== null && (error as { type?: unknown }).type === type;

/**
 * The conflict a client error reports, or undefined when it is not a wrong-expected-version
 * error. Recognised by its `type` discriminant rather than `instanceof`, so that a client from
 * another copy of the package is understood too. `actual` is undefined when the error does not
 * say (the caller then reads the stream).
 */
export const conflictOf = (
  error: unknown,
  dialect: ClientDialect,
  pkg: ClientPackage,
): { actual: bigint | undefined } | undefined =>
  hasType(error, pkg.WRONG_EXPECTED_VERSION)
    ? { actual: revisionOfClientState(dialect.actualStateOf(error), pkg) }
    : undefined;

export const isStreamNotFound = (error: unknown, pkg: ClientPackage): boolean =>
  hasType(error, pkg.STREAM_NOT_FOUND);

/**
 * The connection under a call was lost, rather than the call refused: worth calling again once
 * the client has reconnected (the packages reconnect on the next call after these errors).
 */
/** The leader a NotLeader refusal names ("host:port"); undefined for any other error. */
export const notLeaderOf = (
  error: unknown,
  pkg: ClientPackage,
): { leader: string | undefined } | undefined => {
  if (!hasType(error, pkg.NOT_LEADER)) return undefined;
  const leader = (error as { leader?: { address?: unknown; port?: unknown } }).leader;
  return { leader: leader ? `${String(leader.address)}:${String(leader.port)}` : undefined };
};

/** The call timed out: an append's outcome is then unknown. */
export const isTimeout = (error: unknown, pkg: ClientPackage): boolean =>
  hasType(error, pkg.DEADLINE_EXCEEDED) || hasType(error, pkg.TIMEOUT);

export const isConnectionLoss = (error: unknown, pkg: ClientPackage): boolean =>
  hasType(error, pkg.UNAVAILABLE) || hasType(error, pkg.CANCELLED);
