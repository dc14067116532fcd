import { Observable } from 'rxjs';
import { ConcurrencyError, StoreClosedError } from '../../domain/errors.js';
import {
  describeExpectedVersion,
  offerAppendNow,
  offerReadStreamNow,
  ofTypes,
  satisfiesExpectedVersion,
  type AppendOptions,
  type AppendResult,
  type EventData,
  type EventStore,
  type ReadAllOptions,
  type ReadStreamOptions,
  type ExpectedVersion,
  type RecordedEvent,
  type StreamWrite,
  type SubscribeOptions,
} from '../../domain/event-store.js';
import { frozenCopy } from './frozen-copy.js';

export interface InMemoryEventStoreOptions {
  /** Source of `recordedAt`; defaults to the system clock. */
  now?: () => Date;
}

/**
 * An event as this store keeps it: never handed out, so neither frozen nor given BigInts and a
 * Date until a reader asks (`recorded`). Positions as numbers and the time as milliseconds keep
 * an append free of three heap objects per event that the store would hold for its whole life
 * (bench/NOTES.md, "Engine on memory, round 8"). Its `data` and `metadata` are the frozen
 * copies every reader shares.
 */
interface StoredEvent {
  readonly type: string;
  readonly version: number;
  readonly data: unknown;
  readonly metadata: Record<string, unknown> | undefined;
  readonly streamName: string;
  readonly streamRevision: number;
  readonly globalPosition: number;
  readonly recordedAt: number;
}

// What a reader gets: a frozen record of its own, with its own Date (a frozen Date can still be
// changed with setTime()). The fields are named rather than spread: this runs for every event
// read and every subscriber it is delivered to.
const recorded = (event: StoredEvent): RecordedEvent => {
  const copy: RecordedEvent = {
    type: event.type,
    version: event.version,
    data: event.data,
    streamName: event.streamName,
    streamRevision: BigInt(event.streamRevision),
    globalPosition: BigInt(event.globalPosition),
    recordedAt: new Date(event.recordedAt),
  };
  if (event.metadata !== undefined) copy.metadata = event.metadata;
  return Object.freeze(copy);
};

/**
 * The event store kept in process memory: for tests, examples and embedding. Data is copied
 * on append (so a caller mutating its objects cannot rewrite history) and frozen.
 */
export const createInMemoryEventStore = (options: InMemoryEventStoreOptions = {}): EventStore => {
  const now = options.now ?? (() => new Date());
  // The stored batch's time in milliseconds: what `options.now` gives, else the system clock.
  const given = options.now;
  const stamp = given ? () => given().getTime() : () => Date.now();
  const all: StoredEvent[] = [];
  const streams = new Map<string, StoredEvent[]>();
  const pumps = new Set<() => void>();
  const closers = new Set<() => void>();
  let closed = false;

  const ensureOpen = () => {
    if (closed) throw new StoreClosedError();
  };

  // Delivery is scheduled, never done inside append: a subscriber that appends while handling
  // an event must not make others see the new event before the one being delivered.
  // One microtask runs every subscription's pump: a microtask per pump and per append cost
  // O(subscribers) queueMicrotask calls (each an async resource in Node) on every append.
  let scheduled = false;
  const runPumps = () => {
    scheduled = false;
    for (const pump of pumps) {
      try {
        pump();
      } catch (error) {
        // One subscriber's failure must not hold up the others: raise it on its own.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };
  const wake = () => {
    if (scheduled || pumps.size === 0) return;
    scheduled = true;
    queueMicrotask(runPumps);
  };

  /**
   * Checks and copies every write before storing any (a conflict or a value that cannot be
   * copied stores nothing), then stores them in order. Each write is checked against its
   * stream as the earlier writes of the same call leave it.
   */
  const store = (
    writes: ReadonlyArray<{
      stream: string;
      events: readonly EventData[];
      expected: ExpectedVersion;
    }>,
  ): AppendResult[] => {
    // Plain loops, and records built without a spread: this runs for every append, and the
    // `map` callbacks and `...(metadata ? { metadata } : {})` were 5% of the engine's profile.
    let pending: Map<string, number> | undefined;
    let next = all.length;
    const recordedAt = stamp();
    const prepared: { stream: string; current: number; stored: StoredEvent[] }[] = [];
    for (const { stream, events, expected } of writes) {
      const current = pending?.get(stream) ?? (streams.get(stream)?.length ?? 0) - 1;
      if (!satisfiesExpectedVersion(expected, BigInt(current))) {
        throw new ConcurrencyError(stream, describeExpectedVersion(expected), BigInt(current));
      }
      const stored: StoredEvent[] = [];
      let revision = current;
      for (const e of events) {
        stored.push({
          type: e.type,
          version: e.version,
          data: frozenCopy(e.data),
          metadata: e.metadata ? frozenCopy(e.metadata) : undefined,
          streamName: stream,
          streamRevision: ++revision,
          globalPosition: ++next,
          recordedAt,
        });
      }
      if (writes.length > 1) (pending ??= new Map()).set(stream, revision);
      prepared.push({ stream, current, stored });
    }
    const results: AppendResult[] = [];
    let appended = false;
    for (const { stream, current, stored } of prepared) {
      const last = stored.at(-1);
      if (!last) {
        results.push({
          nextExpectedRevision: BigInt(current),
          lastPosition: BigInt(streams.get(stream)?.at(-1)?.globalPosition ?? all.length),
        });
        continue;
      }
      // The store owns its arrays and only ever hands out copies of them: appending in place
      // keeps an append O(events appended) instead of O(stream length).
      let own = streams.get(stream);
      if (!own) streams.set(stream, (own = []));
      for (const r of stored) {
        all.push(r);
        own.push(r);
      }
      appended = true;
      results.push({
        nextExpectedRevision: BigInt(last.streamRevision),
        lastPosition: BigInt(last.globalPosition),
      });
    }
    if (appended) wake();
    return results;
  };

  const appendNow = (
    stream: string,
    events: readonly EventData[],
    appendOptions: AppendOptions = {},
  ): AppendResult => {
    ensureOpen();
    const [result] = store([{ stream, events, expected: appendOptions.expectedVersion ?? 'any' }]);
    return result!;
  };

  const readStreamNow = (stream: string, readOptions: ReadStreamOptions = {}): RecordedEvent[] => {
    ensureOpen();
    const events = streams.get(stream) ?? [];
    const max = readOptions.maxCount ?? Infinity;
    if (readOptions.direction === 'backwards') {
      const last = events.length - 1;
      const start =
        readOptions.from === undefined ? last : Math.min(last, Number(readOptions.from));
      const end = Math.max(-1, start - max);
      const out: RecordedEvent[] = [];
      for (let i = start; i > end; i--) out.push(recorded(events[i] as StoredEvent));
      return out;
    }
    const start = Number(readOptions.from ?? 0n);
    return events.slice(start, max === Infinity ? undefined : start + max).map(recorded);
  };

  const eventStore: EventStore = {
    async append(
      stream: string,
      events: readonly EventData[],
      appendOptions: AppendOptions = {},
    ): Promise<AppendResult> {
      return appendNow(stream, events, appendOptions);
    },

    async appendToStreams(writes: readonly StreamWrite[]): Promise<AppendResult[]> {
      ensureOpen();
      return store(
        writes.map((w) => ({
          stream: w.stream,
          events: w.events,
          expected: w.expectedVersion ?? 'any',
        })),
      );
    },

    async readStream(
      stream: string,
      readOptions: ReadStreamOptions = {},
    ): Promise<RecordedEvent[]> {
      return readStreamNow(stream, readOptions);
    },

    async readAll(readOptions: ReadAllOptions = {}): Promise<RecordedEvent[]> {
      ensureOpen();
      const start = Number(readOptions.after ?? 0n);
      const max = readOptions.maxCount ?? Infinity;
      if (readOptions.types === undefined) {
        return all.slice(start, max === Infinity ? undefined : start + max).map(recorded);
      }
      const keep = ofTypes<StoredEvent>(readOptions.types);
      const out: RecordedEvent[] = [];
      for (let i = start; i < all.length && out.length < max; i++) {
        const event = all[i] as StoredEvent;
        if (keep(event)) out.push(recorded(event));
      }
      return out;
    },

    async headPosition(): Promise<bigint> {
      ensureOpen();
      return BigInt(all.length);
    },

    async currentTime(): Promise<Date> {
      ensureOpen();
      return now();
    },

    subscribe(subscribeOptions: SubscribeOptions = {}): Observable<RecordedEvent> {
      return new Observable<RecordedEvent>((subscriber) => {
        if (closed) {
          subscriber.error(new StoreClosedError());
          return;
        }
        const after = subscribeOptions.after ?? 0n;
        let cursor = after === 'end' ? all.length : Number(after);
        const keep = ofTypes<StoredEvent>(subscribeOptions.types);
        let delivering = false;
        const pump = () => {
          if (delivering || subscriber.closed) return;
          delivering = true;
          try {
            while (cursor < all.length && !subscriber.closed) {
              const event = all[cursor++] as StoredEvent;
              if (keep(event)) subscriber.next(recorded(event));
            }
          } finally {
            delivering = false;
          }
        };
        const complete = () => subscriber.complete();
        pumps.add(pump);
        closers.add(complete);
        queueMicrotask(pump);
        return () => {
          pumps.delete(pump);
          closers.delete(complete);
        };
      });
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const complete of [...closers]) complete();
      pumps.clear();
    },
  };
  // The same append and read without a promise, for the engine (see offerAppendNow): with
  // them, a five-step operation on this store allocates about a tenth less (bench/NOTES.md,
  // "Engine on memory, round 7").
  return offerReadStreamNow(offerAppendNow(eventStore, appendNow), readStreamNow);
};
