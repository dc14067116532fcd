import { Observable } from 'rxjs';
import { ConcurrencyError, StoreClosedError } from '../../domain/errors.js';
import {
  describeExpectedVersion,
  offerAppendNow,
  offerReadStreamNow,
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
import { createEventColumns, pushEvent, recordOf, typeAt } from './event-columns.js';
import { frozenCopy } from './frozen-copy.js';

export interface InMemoryEventStoreOptions {
  /** Source of `recordedAt`; defaults to the system clock. */
  now?: () => Date;
}

// As the SQL stores read `maxCount` (a LIMIT): whole events only, none below 0, and no limit
// when it is not a finite number.
const countOf = (maxCount: number | undefined): number =>
  maxCount === undefined || !Number.isFinite(maxCount)
    ? Infinity
    : Math.max(0, Math.floor(maxCount));

// ofTypes for a type name: the store reads a column of names, not records.
const typeFilter = (types: readonly string[] | undefined): ((type: string) => boolean) => {
  if (types === undefined) return () => true;
  const set = new Set(types);
  return (type) => set.has(type);
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
  const all = createEventColumns();
  // Each stream's events as indexes into `all`, in revision order.
  const streams = new Map<string, number[]>();
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
    // Plain loops: this runs for every append, and `map` callbacks were 5% of the engine's
    // profile. Copies are made (and may throw) before anything is stored. Arrays are made at
    // their size: an empty array's first push allocates room for 17 elements, and the six
    // arrays of each write so made were a fifth of what the engine allocated an operation.
    let pending: Map<string, number> | undefined;
    const time = stamp();
    const count = writes.length;
    const names = new Array<string>(count);
    const owns = new Array<number[] | undefined>(count);
    const currents = new Array<number>(count);
    // Each write's events as [type, version, data, metadata] one after another.
    const fields = new Array<unknown[]>(count);
    for (let w = 0; w < count; w++) {
      const { stream, events, expected } = writes[w]!;
      const own = streams.get(stream);
      const current = pending?.get(stream) ?? (own?.length ?? 0) - 1;
      if (!satisfiesExpectedVersion(expected, BigInt(current))) {
        throw new ConcurrencyError(stream, describeExpectedVersion(expected), BigInt(current));
      }
      // Every field read here, once: a getter that throws (or answers differently the second
      // time) fails the call before anything is stored.
      const size = events.length;
      const read = new Array<unknown>(size * 4);
      for (let i = 0, f = 0; i < size; i++, f += 4) {
        const e = events[i]!;
        read[f] = e.type;
        read[f + 1] = e.version;
        read[f + 2] = frozenCopy(e.data);
        const given = e.metadata;
        read[f + 3] = given ? frozenCopy(given) : undefined;
      }
      if (count > 1) (pending ??= new Map()).set(stream, current + size);
      names[w] = stream;
      owns[w] = own;
      currents[w] = current;
      fields[w] = read;
    }
    const results = new Array<AppendResult>(count);
    let appended = false;
    for (let w = 0; w < count; w++) {
      const stream = names[w]!;
      const read = fields[w]!;
      const current = currents[w]!;
      // A stream an earlier write of this call created was not there when `owns` was filled.
      let own = owns[w] ?? streams.get(stream);
      if (read.length === 0) {
        results[w] = {
          nextExpectedRevision: BigInt(current),
          lastPosition: BigInt(own === undefined ? all.length : (own.at(-1) as number) + 1),
        };
        continue;
      }
      // The store owns its arrays and only ever hands out records built from them: appending
      // in place keeps an append O(events appended) instead of O(stream length).
      if (!own) streams.set(stream, (own = []));
      let revision = current;
      for (let f = 0; f < read.length; f += 4) {
        own.push(all.length);
        pushEvent(
          all,
          read[f] as string,
          read[f + 1] as number,
          read[f + 2],
          read[f + 3] as Record<string, unknown> | undefined,
          stream,
          ++revision,
          time,
        );
      }
      appended = true;
      results[w] = {
        nextExpectedRevision: BigInt(revision),
        lastPosition: BigInt(all.length),
      };
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
    const max = countOf(readOptions.maxCount);
    if (readOptions.direction === 'backwards') {
      const last = events.length - 1;
      const start =
        readOptions.from === undefined ? last : Math.min(last, Number(readOptions.from));
      const end = Math.max(-1, start - max);
      const out: RecordedEvent[] = [];
      for (let i = start; i > end; i--) out.push(recordOf(all, events[i] as number));
      return out;
    }
    const start = Math.max(0, Number(readOptions.from ?? 0n));
    const end = Math.min(events.length, start + max);
    const out: RecordedEvent[] = [];
    for (let i = start; i < end; i++) out.push(recordOf(all, events[i] as number));
    return out;
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
      const start = Math.max(0, Number(readOptions.after ?? 0n));
      const max = countOf(readOptions.maxCount);
      const keep = typeFilter(readOptions.types);
      const out: RecordedEvent[] = [];
      for (let i = start; i < all.length && out.length < max; i++) {
        if (keep(typeAt(all, i))) out.push(recordOf(all, i));
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
        let cursor = after === 'end' ? all.length : Math.max(0, Number(after));
        const keep = typeFilter(subscribeOptions.types);
        let delivering = false;
        const pump = () => {
          if (delivering || subscriber.closed) return;
          delivering = true;
          try {
            while (cursor < all.length && !subscriber.closed) {
              const index = cursor++;
              if (keep(typeAt(all, index))) subscriber.next(recordOf(all, index));
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
