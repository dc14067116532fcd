import { filter, Observable } from 'rxjs';
import {
  ConcurrencyError,
  InvalidEventError,
  InvalidStoreUrlError,
  OpledgerError,
  StoreClosedError,
} from '../../domain/errors.js';
import {
  describeExpectedVersion,
  ofTypes,
  satisfiesExpectedVersion,
  type AppendOptions,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedVersion,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
} from '../../domain/event-store.js';
import { pipeAllSubscription } from './all-subscription.js';
import {
  conflictOf,
  dialects,
  flavourOfClient,
  flavourOfConnectionString,
  isStreamNotFound,
  isTimeout,
  notLeaderOf,
  toClientStreamState,
  type ClientFlavour,
  type ClientPackage,
} from './client-dialect.js';
import type { EventStoreDbClient } from './client-shape.js';
import { isTransientEventStoreDbError } from './transient-errors.js';
import { AppendOutcomeUnknownError, EventStoreDbConfigError, NotLeaderError } from './errors.js';
import {
  decodeEvent,
  encodeEvent,
  isReservedName,
  isSystemEvent,
  positionOf,
} from './event-encoding.js';
import { lastPositionInLog, readToEnd, scanAll } from './scan-all.js';
import { createStreamScope, type EventStoreDbScope } from './stream-scope.js';

export type EventStoreDbConnection =
  | {
      /** A client you created and keep: close() leaves it open. */
      client: EventStoreDbClient;
      connectionString?: undefined;
    }
  | {
      /**
       * `esdb://` (or `esdb+discover://`) opens an EventStoreDBClient from @eventstore/db-client;
       * `kurrentdb://`, `kurrent://` or `kdb://` (or their +discover forms) a KurrentDBClient from
       * @kurrent/kurrentdb-client. The store owns that client: close() disposes it.
       */
      connectionString: string;
      client?: undefined;
    };

export type EventStoreDbEventStoreOptions = EventStoreDbConnection & {
  /**
   * Which package the client comes from, when telling it from the client (or the connection
   * string's scheme) is not wanted.
   */
  flavour?: ClientFlavour;
  /** Confines the store to part of a shared server; see EventStoreDbScope. */
  scope?: EventStoreDbScope;
  /** Source of `recordedAt`; defaults to the system clock. */
  now?: () => Date;
  /**
   * How many times in a row a subscription subscribes again, after the last position it saw,
   * when its connection drops (server restarted, stream ended by the server), before failing
   * with SubscriptionDroppedError. Defaults to 10 (about 10 s of attempts); 0 fails at once.
   */
  maxResubscribes?: number;
};

export interface EventStoreDbEventStore extends EventStore {
  /** Which client package the store talks through. */
  readonly flavour: ClientFlavour;
}

const SCHEMES = 'esdb://, kurrentdb://, kurrent:// or kdb:// (or their +discover forms)';

// Connection strings carry passwords (esdb://admin:changeit@host); errors must not.
const redact = (connectionString: string): string =>
  connectionString.replace(/\/\/[^@/]*@/, '//***@');

const resolveFlavour = (options: EventStoreDbEventStoreOptions): ClientFlavour => {
  if (options.client !== undefined) {
    if (typeof options.client?.appendToStream !== 'function') {
      throw new EventStoreDbConfigError(
        'the client is not an EventStoreDBClient or KurrentDBClient (it has no appendToStream)',
      );
    }
    return options.flavour ?? flavourOfClient(options.client);
  }
  if (typeof options.connectionString !== 'string') {
    throw new EventStoreDbConfigError('pass either { client } or { connectionString }');
  }
  const fromScheme = flavourOfConnectionString(options.connectionString);
  if (fromScheme === undefined) {
    throw new InvalidStoreUrlError(
      redact(options.connectionString),
      `is not an EventStoreDB or KurrentDB connection string (${SCHEMES})`,
    );
  }
  if (options.flavour === 'eventstoredb' && fromScheme === 'kurrentdb') {
    throw new EventStoreDbConfigError(
      '@eventstore/db-client only understands esdb:// connection strings; use esdb:// or the kurrentdb flavour',
    );
  }
  return options.flavour ?? fromScheme;
};

interface Connected {
  client: EventStoreDbClient;
  pkg: ClientPackage;
}

interface StreamTip {
  revision: bigint;
  position: bigint | undefined;
}

/**
 * The event store on EventStoreDB or KurrentDB. Streams are EventStoreDB streams, opledger
 * events are JSON events (see event-encoding.ts for the layout), global positions are commit
 * positions in $all: they strictly increase but are sparse and start well above 1n.
 *
 * EventStoreDB keeps no read models: the projections' read store is chosen separately (memory,
 * SQLite or PostgreSQL) and nothing here depends on which.
 */
export const createEventStoreDbEventStore = (
  options: EventStoreDbEventStoreOptions,
): EventStoreDbEventStore => {
  const flavour = resolveFlavour(options);
  const dialect = dialects[flavour];
  const scope = createStreamScope(options.scope);
  const now = options.now ?? (() => new Date());
  const ownsClient = options.client === undefined;
  const endpoint =
    options.connectionString !== undefined
      ? redact(options.connectionString)
      : `the ${flavour} server of the client given`;
  let connecting: Promise<Connected> | undefined;
  let closing: Promise<void> | undefined;
  let closed = false;
  const live = new Set<() => void>();
  const starting = new Set<Promise<unknown>>();

  // The package is imported, and an owned client opened, on first use: creating a store stays
  // synchronous and loads nothing until it is needed.
  const connect = (): Promise<Connected> =>
    (connecting ??= dialect.load().then((pkg) => ({
      pkg,
      client:
        options.client ?? pkg.connect((options as { connectionString: string }).connectionString),
    })));

  const ensureOpen = () => {
    if (closed) throw new StoreClosedError();
  };

  const failure = (error: unknown): unknown =>
    closed && !(error instanceof OpledgerError) ? new StoreClosedError() : error;

  const streamTip = async ({ client, pkg }: Connected, serverName: string): Promise<StreamTip> => {
    try {
      for await (const resolved of readToEnd(
        client.readStream(serverName, {
          fromRevision: pkg.END,
          direction: pkg.BACKWARDS,
          maxCount: 1,
        }),
      )) {
        return { revision: resolved.event?.revision ?? -1n, position: positionOf(resolved) };
      }
    } catch (error) {
      if (!isStreamNotFound(error, pkg)) throw error;
    }
    return { revision: -1n, position: undefined };
  };

  const positionAt = async (
    { client, pkg }: Connected,
    serverName: string,
    revision: bigint,
  ): Promise<bigint | undefined> => {
    for await (const resolved of readToEnd(
      client.readStream(serverName, {
        fromRevision: revision,
        direction: pkg.FORWARDS,
        maxCount: 1,
      }),
    )) {
      return positionOf(resolved);
    }
    return undefined;
  };

  const headPosition = async (): Promise<bigint> => {
    ensureOpen();
    const { client, pkg } = await connect();
    try {
      for await (const resolved of scanAll(client, pkg, { from: 'end' })) {
        const position = positionOf(resolved) ?? 0n;
        if (position <= scope.floor) break;
        if (scope.streamNameOf(resolved) !== undefined) return position;
      }
    } catch (error) {
      throw failure(error);
    }
    return 0n;
  };

  const conflict = async (
    connected: Connected,
    stream: string,
    expected: ExpectedVersion,
    actual?: bigint,
  ): Promise<ConcurrencyError> =>
    new ConcurrencyError(
      stream,
      describeExpectedVersion(expected),
      actual ?? (await streamTip(connected, scope.serverName(stream))).revision,
    );

  const append = async (
    stream: string,
    events: readonly EventData[],
    appendOptions: AppendOptions = {},
  ): Promise<AppendResult> => {
    ensureOpen();
    const expected = appendOptions.expectedVersion ?? 'any';
    const recordedAt = new Date(now().getTime());
    // Encoded (and so copied) before the first await: later changes by the caller are not stored.
    const encoded = events.map((event) => encodeEvent(event, recordedAt));
    if (isReservedName(stream) && encoded.length > 0) {
      throw new InvalidEventError(
        encoded[0]?.type ?? '',
        `the stream name '${stream}' starts with '$', which EventStoreDB keeps for system streams`,
      );
    }
    // A subscription from 'end' is still reading where the end is: this append must come after.
    if (starting.size > 0) await Promise.allSettled([...starting]);
    const connected = await connect();
    ensureOpen();
    const { client, pkg } = connected;
    const serverName = scope.serverName(stream);
    try {
      if (encoded.length === 0 || (typeof expected === 'bigint' && expected < -1n)) {
        // Nothing to write, or a revision no stream is ever at: the server has nothing to check.
        const tip = await streamTip(connected, serverName);
        if (!satisfiesExpectedVersion(expected, tip.revision)) {
          throw await conflict(connected, stream, expected, tip.revision);
        }
        return {
          nextExpectedRevision: tip.revision,
          lastPosition: tip.position ?? (await headPosition()),
        };
      }
      // Built once: a second attempt sends the same event ids.
      const proposed = encoded.map((event) => pkg.jsonEvent(event));
      const send = () =>
        client.appendToStream(
          serverName,
          proposed,
          dialect.appendOptions(toClientStreamState(expected, pkg)),
        );
      const result = await send().catch((error: unknown) => {
        // A node that is not the leader refused the write before writing anything, so sending
        // it again is safe whatever the expected version; the client has already switched its
        // connection to the leader the refusal named. Followed once: a second refusal is
        // reported (test/support/esdb-wire-faults.ts).
        if (notLeaderOf(error, pkg)) return send();
        throw error;
      });
      // With throwOnAppendFailure=false the client returns the conflict instead of throwing it,
      // with a revision that 6.x gets wrong: read the stream for it.
      if (!result.success) throw await conflict(connected, stream, expected);
      const commit = result.position?.commit;
      return {
        nextExpectedRevision: result.nextExpectedRevision,
        lastPosition:
          commit !== undefined && commit >= 0n
            ? commit
            : ((await positionAt(connected, serverName, result.nextExpectedRevision)) ?? 0n),
      };
    } catch (error) {
      const reported = conflictOf(error, dialect, pkg);
      if (reported) throw await conflict(connected, stream, expected, reported.actual);
      const refused = notLeaderOf(error, pkg);
      if (refused) throw new NotLeaderError(stream, refused.leader, error);
      // Not retried: without an expected version a second attempt could write the events twice.
      if (isTimeout(error, pkg)) throw new AppendOutcomeUnknownError(stream, error);
      throw failure(error);
    }
  };

  const readStream = async (
    stream: string,
    { from, direction = 'forwards', maxCount }: ReadStreamOptions = {},
  ): Promise<RecordedEvent[]> => {
    ensureOpen();
    const backwards = direction === 'backwards';
    // opledger never writes '$' streams (they are the server's), so there is nothing to find.
    if (isReservedName(stream) || (maxCount !== undefined && maxCount <= 0)) return [];
    if (from !== undefined && from < 0n) {
      if (backwards) return [];
      from = undefined;
    }
    const { client, pkg } = await connect();
    const events: RecordedEvent[] = [];
    try {
      for await (const resolved of client.readStream(scope.serverName(stream), {
        fromRevision: from ?? (backwards ? pkg.END : pkg.START),
        direction: backwards ? pkg.BACKWARDS : pkg.FORWARDS,
        ...(maxCount === undefined ? {} : { maxCount }),
      })) {
        if (!isSystemEvent(resolved)) events.push(decodeEvent(resolved, stream));
      }
    } catch (error) {
      // The packages report a missing stream by failing the iteration.
      if (isStreamNotFound(error, pkg)) return [];
      throw failure(error);
    }
    return events;
  };

  const readAll = async ({ after = 0n, maxCount, types }: ReadAllOptions = {}): Promise<
    RecordedEvent[]
  > => {
    ensureOpen();
    const limit = maxCount ?? Infinity;
    if (limit <= 0) return [];
    const floor = after > scope.floor ? after : scope.floor;
    const { client, pkg } = await connect();
    const events: RecordedEvent[] = [];
    // Filtered here: the contract's `types`, without the server's own filter language.
    const keep = ofTypes(types);
    try {
      for await (const resolved of scanAll(client, pkg, { from: floor })) {
        const streamName = scope.streamNameOf(resolved);
        // Reads from a position include it; `after` does not.
        if (streamName === undefined || (positionOf(resolved) ?? 0n) <= floor) continue;
        const event = decodeEvent(resolved, streamName);
        if (!keep(event)) continue;
        events.push(event);
        if (events.length >= limit) break;
      }
    } catch (error) {
      throw failure(error);
    }
    return events;
  };

  const subscribe = ({ after = 0n, types }: SubscribeOptions = {}): Observable<RecordedEvent> =>
    types === undefined
      ? subscribeToAll(after)
      : subscribeToAll(after).pipe(filter(ofTypes(types)));

  const subscribeToAll = (after: bigint | 'end'): Observable<RecordedEvent> =>
    new Observable<RecordedEvent>((subscriber) => {
      if (closed) {
        subscriber.error(new StoreClosedError());
        return;
      }
      let stop: (() => void) | undefined;
      let ended = false;
      const complete = () => {
        ended = true;
        stop?.();
        subscriber.complete();
      };
      live.add(complete);

      const start = connect().then(async (connected) => {
        const from =
          after === 'end'
            ? ((await lastPositionInLog(connected.client, connected.pkg)) ?? 0n)
            : after;
        return { ...connected, from: from > scope.floor ? from : scope.floor };
      });
      if (after === 'end') {
        // "From now on" means after every append that starts once subscribe() has returned.
        starting.add(start);
        void start.finally(() => starting.delete(start)).catch(() => undefined);
      }
      start.then(
        ({ client, pkg, from }) => {
          if (ended || subscriber.closed) return;
          stop = pipeAllSubscription(
            { client, pkg, scope, after: from, maxResubscribes: options.maxResubscribes },
            subscriber,
          );
        },
        (error: unknown) => {
          if (!ended) subscriber.error(failure(error));
        },
      );

      return () => {
        ended = true;
        live.delete(complete);
        stop?.();
      };
    });

  const close = (): Promise<void> =>
    (closing ??= (async () => {
      closed = true;
      for (const complete of [...live]) complete();
      if (ownsClient && connecting) {
        const connected = await connecting.catch(() => undefined);
        await connected?.client.dispose();
      }
    })());

  return {
    flavour,
    outage: { host: endpoint, isTransient: isTransientEventStoreDbError },
    append,
    readStream,
    readAll,
    headPosition,
    subscribe,
    close,
  };
};
