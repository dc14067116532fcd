import type { Observable } from 'rxjs';

/**
 * The event store port. Every adapter (memory, SQLite, PostgreSQL, EventStoreDB) implements it
 * and passes the same contract suite. Stream revisions start at 0n; a missing stream is at -1n.
 * Global positions strictly increase; memory, SQLite and PostgreSQL number them densely from 1n,
 * EventStoreDB uses its commit positions, which are sparse.
 */
export type ExpectedVersion = 'no_stream' | 'any' | 'stream_exists' | bigint;

export interface EventData {
  type: string;
  /** Schema version of `data`; readers upcast older versions. */
  version: number;
  data: unknown;
  metadata?: Record<string, unknown>;
}

export interface RecordedEvent extends EventData {
  streamName: string;
  streamRevision: bigint;
  globalPosition: bigint;
  recordedAt: Date;
}

export interface AppendOptions {
  expectedVersion?: ExpectedVersion;
}

export interface AppendResult {
  /** Revision of the last event written: pass it as the next `expectedVersion`. */
  nextExpectedRevision: bigint;
  lastPosition: bigint;
}

/** One stream's part of an atomic append to several streams (`appendToStreams`). */
export interface StreamWrite {
  stream: string;
  events: readonly EventData[];
  expectedVersion?: ExpectedVersion;
}

export interface ReadStreamOptions {
  /** Revision to start from (inclusive); defaults to the first (forwards) or last (backwards). */
  from?: bigint;
  direction?: 'forwards' | 'backwards';
  maxCount?: number;
}

export interface ReadAllOptions {
  /** Global position to read after (exclusive); 0n, the default, reads from the start. */
  after?: bigint;
  /** At most this many events (of `types`, when given). */
  maxCount?: number;
  /** Only events of these types (every event when absent); see `SubscribeOptions.types`. */
  types?: readonly string[];
}

export interface SubscribeOptions {
  /**
   * Where the catch-up starts: after this global position (exclusive, 0n = from the start),
   * or 'end' to receive only events appended from now on.
   */
  after?: bigint | 'end';
  /**
   * Only events of these types, still in global order (every event when absent). A reader
   * that needs a few kinds of event, such as a worker's index of claimable work, leaves the
   * others at the store instead of receiving and decoding them: PostgreSQL and SQLite filter
   * in SQL. An empty list selects nothing.
   */
  types?: readonly string[];
}

/**
 * Whether `event` is one a read with `types` returns: for adapters that filter in code.
 *
 * @example
 * ```ts
 * const keep = ofTypes(['OperationRequested']);
 * events.filter(keep);
 * ```
 */
export const ofTypes = <E extends { type: string } = RecordedEvent>(
  types: readonly string[] | undefined,
): ((event: E) => boolean) => {
  if (types === undefined) return () => true;
  const set = new Set(types);
  return (event) => set.has(event.type);
};

/**
 * What a store says about its own failures, so that an engine can ride out an outage of it
 * (`createEngine`'s `storeOutage`): where the store is, and which errors mean "not reachable
 * now, the same call may work later" (refused or reset connections, a server shutting down or
 * starting up, a lock held past its timeout). Each adapter family classifies its own driver's
 * errors; a store without it is never waited for.
 */
export interface StoreOutageTraits {
  /** Where the store is, for messages: host:port/database, or a file. Never a password. */
  readonly host: string;
  /** True for a failure of reaching the store, false for one of the call itself. */
  isTransient(error: unknown): boolean;
}

export interface EventStore {
  /** How this store's transient failures are recognised; absent: none is. */
  readonly outage?: StoreOutageTraits;
  append(
    stream: string,
    events: readonly EventData[],
    options?: AppendOptions,
  ): Promise<AppendResult>;
  /**
   * Appends to several streams as one unit: either every write is stored, in the order given
   * (their global positions follow that order), or none is. Each write's expected version is
   * checked against the stream as the earlier writes of the same call left it; one that does
   * not hold fails the whole call with a ConcurrencyError. Results are one per write, in order.
   * Optional: only stores with transactions across streams have it (memory, SQLite,
   * PostgreSQL); callers keep a path of single appends for the others.
   *
   * @example
   * ```ts
   * if (store.appendToStreams) {
   *   await store.appendToStreams([
   *     { stream: 'queue-1', events: [entry] },
   *     { stream: 'operation-1', events: [requested], expectedVersion: 'no_stream' },
   *   ]);
   * }
   * ```
   */
  appendToStreams?(writes: readonly StreamWrite[]): Promise<AppendResult[]>;
  /** The stream's events; an empty array when the stream does not exist. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Global position of the last event written; 0n for an empty store. */
  headPosition(): Promise<bigint>;
  /** Catch-up then live, in global order, with no gap and no duplicate. */
  subscribe(options?: SubscribeOptions): Observable<RecordedEvent>;
  /**
   * The store's clock, the one its `recordedAt` comes from: worker leases are judged by it, so
   * that no two machines' clocks are ever compared. PostgreSQL answers with its server's
   * clock; SQLite and memory with the clock of the one machine they live on. Optional for
   * adapters written before workers: without it the caller's clock is used (see docs/workers.md).
   */
  currentTime?(): Promise<Date>;
  close(): Promise<void>;
}

/**
 * The store's time (`currentTime`), or the caller's clock for a store that cannot tell it.
 *
 * @example
 * ```ts
 * const now = await storeTime(store, () => new Date());
 * ```
 */
export const storeTime = (store: EventStore, fallback: () => Date): Promise<Date> =>
  store.currentTime ? store.currentTime() : Promise.resolve(fallback());

export const NO_STREAM_REVISION = -1n;

export const describeExpectedVersion = (expected: ExpectedVersion): string =>
  typeof expected === 'bigint' ? `revision ${expected}` : `'${expected}'`;

/** Shared by adapters so that every store agrees on what an expected version accepts. */
export const satisfiesExpectedVersion = (expected: ExpectedVersion, current: bigint): boolean => {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return current === NO_STREAM_REVISION;
    case 'stream_exists':
      return current !== NO_STREAM_REVISION;
    default:
      return current === expected;
  }
};

/**
 * An `append` that is done when it returns: the same checks, the same result, and a refusal
 * (a conflict, a closed store) thrown instead of rejected. Offered by a store whose writes are
 * synchronous underneath (in memory), so that the engine appends without a promise. Undefined
 * means "not now": nothing was written, and the caller appends through `append` (a decorator
 * returns it for a write it must observe asynchronously).
 */
export type AppendNow = (
  stream: string,
  events: readonly EventData[],
  options?: AppendOptions,
) => AppendResult | undefined;

// A synchronous twin of one of a store's methods, kept beside the store object, not on it, with
// the method it stands for: a copy of a store (`{ ...store, append: mine }`, a user's decorator)
// is another object and has none, and a store whose method was replaced since (a test's fault
// injection) has none any more, so a method someone put in front is never bypassed.
const synchronousTwins = <K extends 'append' | 'readStream', Now>(method: K) => {
  const twins = new WeakMap<EventStore, { of: EventStore[K]; now: Now }>();
  return {
    offer: <S extends EventStore>(store: S, now: Now): S => {
      twins.set(store, { of: store[method], now });
      return store;
    },
    of: (store: EventStore): Now | undefined => {
      const twin = twins.get(store);
      return twin !== undefined && twin.of === store[method] ? twin.now : undefined;
    },
  };
};

const appendTwins = synchronousTwins<'append', AppendNow>('append');

/**
 * Registers `appendNow` as `store`'s synchronous append, for as long as `store.append` is the
 * function it has now (adapters and decorators only); returns `store`.
 *
 * @example
 * ```ts
 * return offerAppendNow(store, (stream, events, options) => write(stream, events, options));
 * ```
 */
export const offerAppendNow: <S extends EventStore>(store: S, appendNow: AppendNow) => S =
  appendTwins.offer;

/**
 * The synchronous append registered for this very store object, if any and if its `append` is
 * still the one it was registered with: a copy or decorator of it has none, and neither has a
 * store whose `append` was replaced; those are appended to through their `append`.
 *
 * @example
 * ```ts
 * const now = appendNowOf(store);
 * const result = now?.(stream, events) ?? (await store.append(stream, events));
 * ```
 */
export const appendNowOf: (store: EventStore) => AppendNow | undefined = appendTwins.of;

/**
 * A `readStream` that is done when it returns, as `AppendNow` is an append: offered by a store
 * whose reads are synchronous underneath (in memory). Undefined means "not now": read through
 * `readStream`.
 */
export type ReadStreamNow = (
  stream: string,
  options?: ReadStreamOptions,
) => RecordedEvent[] | undefined;

// Kept as appends are, and withdrawn the same way once `readStream` is replaced.
const readTwins = synchronousTwins<'readStream', ReadStreamNow>('readStream');

/**
 * Registers `readStreamNow` as `store`'s synchronous read, for as long as `store.readStream` is
 * the function it has now (adapters and decorators only); returns `store`.
 *
 * @example
 * ```ts
 * return offerReadStreamNow(store, (stream, options) => read(stream, options));
 * ```
 */
export const offerReadStreamNow: <S extends EventStore>(store: S, now: ReadStreamNow) => S =
  readTwins.offer;

/**
 * The synchronous read registered for this very store object, while its `readStream` is the one
 * it was registered with; undefined for a copy, a decorator or a replaced `readStream`.
 *
 * @example
 * ```ts
 * const recorded = readStreamNowOf(store)?.(stream) ?? (await store.readStream(stream));
 * ```
 */
export const readStreamNowOf: (store: EventStore) => ReadStreamNow | undefined = readTwins.of;
