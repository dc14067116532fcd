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

// A frozen Date can still be changed with setTime(): every reader gets its own copy. The fields
// are named rather than spread: V8 spreads a frozen object (every stored event is) through a
// slow path, and this runs for every event read and every subscriber it is delivered to.
const withOwnDate = (event: RecordedEvent): RecordedEvent => {
  const copy: RecordedEvent = {
    type: event.type,
    version: event.version,
    data: event.data,
    streamName: event.streamName,
    streamRevision: event.streamRevision,
    globalPosition: event.globalPosition,
    recordedAt: new Date(event.recordedAt.getTime()),
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
  // The stored batch's own Date: a copy of what `options.now` gives (its caller may keep it),
  // else one fresh Date from the system clock instead of two.
  const given = options.now;
  const stamp = given ? () => new Date(given().getTime()) : () => new Date();
  const all: RecordedEvent[] = [];
  const streams = new Map<string, RecordedEvent[]>();
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
    let pending: Map<string, bigint> | undefined;
    let next = all.length;
    // Stored events are never handed out (readers get copies with their own Date), so this
    // Date is shared by the batch.
    const recordedAt = Object.freeze(stamp());
    const prepared: { stream: string; current: bigint; recorded: RecordedEvent[] }[] = [];
    for (const { stream, events, expected } of writes) {
      const current = pending?.get(stream) ?? BigInt(streams.get(stream)?.length ?? 0) - 1n;
      if (!satisfiesExpectedVersion(expected, current)) {
        throw new ConcurrencyError(stream, describeExpectedVersion(expected), current);
      }
      const recorded: RecordedEvent[] = [];
      let revision = current;
      for (const e of events) {
        const r: RecordedEvent = {
          type: e.type,
          version: e.version,
          data: frozenCopy(e.data),
          streamName: stream,
          streamRevision: ++revision,
          globalPosition: BigInt(++next),
          recordedAt,
        };
        if (e.metadata) r.metadata = frozenCopy(e.metadata);
        recorded.push(Object.freeze(r));
      }
      if (writes.length > 1) (pending ??= new Map()).set(stream, revision);
      prepared.push({ stream, current, recorded });
    }
    const results: AppendResult[] = [];
    let stored = false;
    for (const { stream, current, recorded } of prepared) {
      const last = recorded.at(-1);
      if (!last) {
        results.push({
          nextExpectedRevision: current,
          lastPosition: streams.get(stream)?.at(-1)?.globalPosition ?? BigInt(all.length),
        });
        continue;
      }
      // The store owns its arrays and only ever hands out copies of them: appending in place
      // keeps an append O(events appended) instead of O(stream length).
      let own = streams.get(stream);
      if (!own) streams.set(stream, (own = []));
      for (const r of recorded) {
        all.push(r);
        own.push(r);
      }
      stored = true;
      results.push({
        nextExpectedRevision: last.streamRevision,
        lastPosition: last.globalPosition,
      });
    }
    if (stored) wake();
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
      for (let i = start; i > end; i--) out.push(withOwnDate(events[i] as RecordedEvent));
      return out;
    }
    const start = Number(readOptions.from ?? 0n);
    return events.slice(start, max === Infinity ? undefined : start + max).map(withOwnDate);
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
        return all.slice(start, max === Infinity ? undefined : start + max).map(withOwnDate);
      }
      const keep = ofTypes(readOptions.types);
      const out: RecordedEvent[] = [];
      for (let i = start; i < all.length && out.length < max; i++) {
        const event = all[i] as RecordedEvent;
        if (keep(event)) out.push(withOwnDate(event));
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
        const keep = ofTypes(subscribeOptions.types);
        let delivering = false;
        const pump = () => {
          if (delivering || subscriber.closed) return;
          delivering = true;
          try {
            while (cursor < all.length && !subscriber.closed) {
              const event = all[cursor++] as RecordedEvent;
              if (keep(event)) subscriber.next(withOwnDate(event));
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
