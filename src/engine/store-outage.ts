import { Observable } from 'rxjs';
import { ConcurrencyError, StoreClosedError } from '../domain/errors.js';
import type {
  AppendOptions,
  AppendResult,
  EventData,
  EventStore,
  ExpectedVersion,
  ReadStreamOptions,
  RecordedEvent,
  StreamWrite,
} from '../domain/event-store.js';
import {
  DEFAULT_OUTAGE_BACKOFF,
  outageDelayMs,
  type OutageBackoff,
} from '../domain/outage-backoff.js';
import { systemClock, type Clock } from './clock.js';
import { findBatch, LANDED_SEARCH_WINDOW } from './append-landed.js';
import {
  AppendOutcomeUnknownError,
  StoreUnavailableError,
  type StoreCall,
  type StoreOutageNotice,
} from './store-unavailable.js';

export { AppendOutcomeUnknownError, StoreUnavailableError, type StoreCall, type StoreOutageNotice };

/** One call's budget and backoff, shared by the reads it makes to find out whether it landed. */
interface Retrier {
  readonly waitedMs: number;
  readonly failing: boolean;
  wait(cause: unknown): Promise<void>;
}

/** An expected version that only one place in the stream satisfies. */
const isExact = (expected: ExpectedVersion): boolean =>
  typeof expected === 'bigint' || expected === 'no_stream';

/** The outage budget when `storeOutage.maxMs` is not given: a managed failover fits in it. */
export const DEFAULT_STORE_OUTAGE_MS = 60_000;

export interface StoreOutageOptions {
  /** How long one call may go on failing before it gives up; default 60 000 ms. 0: never wait. */
  maxMs?: number;
  /** Told when the store is waited for, when it is back, and when a call gives up. */
  onOutage?: (notice: StoreOutageNotice) => void;
  /** Real time by default: an outage lasts in the world's time, not an engine's virtual one. */
  clock?: Clock;
  /** A number in [0, 1) per delay, for the jitter; `Math.random` by default. */
  random?: () => number;
  /** The store's own classification (`store.outage`) by default. */
  isTransient?: (error: unknown) => boolean;
  /** `store.outage.host` by default. */
  host?: string;
  backoff?: OutageBackoff;
  /**
   * What the `StoreUnavailableError` tells the caller to do once the store is back; the
   * engine's advice (recover or let a worker take over) by default. A projector gives its own.
   */
  advice?: string;
  /** Least time between two 'waiting' notices; default 1 000 ms. */
  noticeEveryMs?: number;
  /**
   * Events to record first in the `append` that goes through after a call waited
   * `unreachableMs` (the engine writes a line in the operation's log); none when it returns
   * undefined. Called for each attempt after the first failure.
   */
  recordOutage?: (
    stream: string,
    expected: ExpectedVersion,
    unreachableMs: number,
    at: Date,
  ) => EventData[] | undefined;
}

/**
 * An event store that rides out outages of `store`: a call that fails for a transient reason
 * (as `store.outage.isTransient` says) is made again, with exponential backoff and jitter, until
 * it goes through or `maxMs` have passed since its first failure; then it fails with a
 * `StoreUnavailableError`. Any other error (a concurrency conflict, bad data) is passed on at
 * once, never retried.
 *
 * An append whose answer was lost (the connection dropped after the server committed it) is not
 * written twice: with an expected revision, the next attempt is refused, and the decorator reads
 * the stream after that revision and, if it holds the very events sent (type, version, data,
 * metadata), reports the append as done. Only events another writer appended come back as a
 * `ConcurrencyError`. With `expectedVersion: 'any'` it looks for the events sent among the
 * stream's last 200 before each new attempt (engine events carry ids and times, so equal
 * events are the same events).
 *
 * A store with `appendToStreams` keeps it behind the decorator, with the same care: after a
 * failure whose outcome is unknown, the decorator finds out whether the whole write landed or
 * none of it did (the store commits it whole or not at all), looking for each stream's part as
 * `append` looks for its own, before it writes again or returns what the write returned. A
 * part with an expected revision that is not right after it proves the write did not land;
 * every part found, in the order written, proves it did. What proves neither (parts found and
 * parts not) fails with an `AppendOutcomeUnknownError`, never with a second write.
 *
 * Live subscriptions are subscribed again after the last event delivered.
 *
 * @example
 * ```ts
 * const store = withStoreOutageRetry(createPostgresEventStore({ connectionString }), {
 *   maxMs: 30_000,
 *   onOutage: (n) => n.kind === 'waiting' && console.error(`waiting for ${n.host}...`),
 * });
 * ```
 */
export const withStoreOutageRetry = (
  store: EventStore,
  options: StoreOutageOptions = {},
): EventStore => {
  const isTransient = options.isTransient ?? store.outage?.isTransient;
  const maxMs = options.maxMs ?? DEFAULT_STORE_OUTAGE_MS;
  if (!isTransient || !(maxMs > 0)) return store;
  const host = options.host ?? store.outage?.host ?? 'the event store';
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const backoff = options.backoff ?? DEFAULT_OUTAGE_BACKOFF;
  const noticeEveryMs = options.noticeEveryMs ?? 1_000;
  const notify = (notice: StoreOutageNotice) => {
    try {
      options.onOutage?.(notice);
    } catch {
      // A failing listener must not turn a store that came back into a failed call.
    }
  };
  const closing = new AbortController();
  const ms = () => clock.now().getTime();

  // One outage as people see it: from the first failure of any call to the first success after.
  let downSince: number | undefined;
  let lastNotice = -Infinity;
  const failed = (cause: unknown, since: number) => {
    const now = ms();
    downSince ??= since;
    if (now - lastNotice >= noticeEveryMs) {
      lastNotice = now;
      notify({ kind: 'waiting', host, unreachableMs: now - downSince, cause });
    }
  };
  // Set once a call gave up: until the store answers again, the calls of the same outage make
  // one attempt each instead of waiting out a budget of their own, one after the other.
  let givenUp = false;
  const succeeded = () => {
    givenUp = false;
    if (downSince === undefined) return;
    const unreachableMs = ms() - downSince;
    downSince = undefined;
    lastNotice = -Infinity;
    notify({ kind: 'recovered', host, unreachableMs });
  };

  /** One call's failures: waits before the next attempt, or throws once the budget is spent. */
  const retrier = (call: StoreCall): Retrier => {
    // The time of the first attempt: an attempt that hangs until it fails (a connect timeout,
    // SQLite's busy timeout) is part of the time the store was unreachable.
    const started = ms();
    let first: number | undefined;
    let failures = 0;
    return {
      get waitedMs() {
        return first === undefined ? 0 : ms() - first;
      },
      get failing() {
        return first !== undefined;
      },
      async wait(cause: unknown): Promise<void> {
        if (closing.signal.aborted) throw new StoreClosedError();
        failures += 1;
        first ??= started;
        failed(cause, started);
        const delay = givenUp
          ? undefined
          : outageDelayMs({
              failures,
              waitedMs: ms() - first,
              budgetMs: maxMs,
              random: random(),
              backoff,
            });
        if (delay === undefined) {
          givenUp = true;
          const since = Math.min(first, downSince ?? first);
          const error = new StoreUnavailableError(
            host,
            ms() - since,
            call,
            cause,
            'event store',
            options.advice,
          );
          notify({ kind: 'gave_up', host, unreachableMs: error.unreachableMs, error });
          throw error;
        }
        try {
          await clock.sleep(delay, closing.signal);
        } catch {
          throw new StoreClosedError();
        }
      },
    };
  };

  /** `work` until it goes through, on the budget of `r` (a call's own, by default). */
  const retried = async <T>(
    call: StoreCall,
    work: () => Promise<T>,
    r: Retrier = retrier(call),
  ): Promise<T> => {
    for (;;) {
      try {
        const value = await work();
        succeeded();
        return value;
      } catch (error) {
        if (!isTransient(error)) throw error;
        await r.wait(error);
      }
    }
  };

  const readRetried = (stream: string, readOptions?: ReadStreamOptions, r?: Retrier) =>
    retried('readStream', () => store.readStream(stream, readOptions), r);

  /**
   * Whether one of the batches sent (whose answers were lost) is in the stream. Its reads wait
   * out an outage on the budget of `r` when given: that of the write that looks for itself.
   */
  const landed = async (
    stream: string,
    expected: ExpectedVersion,
    sent: readonly (readonly EventData[])[],
    r?: Retrier,
  ): Promise<AppendResult | undefined> => {
    const longest = Math.max(...sent.map((b) => b.length));
    if (typeof expected === 'bigint' || expected === 'no_stream') {
      const from = expected === 'no_stream' ? 0n : expected + 1n;
      const recorded = await readRetried(stream, { from, maxCount: longest }, r);
      for (const batch of sent) {
        const found = findBatch(recorded, batch, 'start');
        if (found) return found;
      }
      return undefined;
    }
    const tail = (
      await readRetried(
        stream,
        { direction: 'backwards', maxCount: LANDED_SEARCH_WINDOW + longest },
        r,
      )
    ).reverse();
    for (const batch of sent) {
      const found = findBatch(tail, batch, 'anywhere');
      if (found) return found;
    }
    return undefined;
  };

  /**
   * Whether an atomic write whose answer was lost is in the store: its results, or undefined
   * when none of it is there. Every attempt sent the same writes, so each part is looked for
   * as one batch, with `landed`. A part with an exact expectation ends the search when it is
   * not right after that revision: ours would be there, so nothing of the write landed.
   */
  const landedWrites = async (
    writes: readonly StreamWrite[],
    r: Retrier,
  ): Promise<AppendResult[] | undefined> => {
    const found: (AppendResult | undefined)[] = [];
    for (const w of writes) {
      const expected = w.expectedVersion ?? 'any';
      const result =
        w.events.length > 0 ? await landed(w.stream, expected, [w.events], r) : undefined;
      if (!result && w.events.length > 0 && isExact(expected)) return undefined;
      found.push(result);
    }
    const parts = writes.flatMap((w, i) => (w.events.length > 0 ? [i] : []));
    const missing = parts.filter((i) => !found[i]);
    if (missing.length === parts.length) return undefined;
    const unknown = (notFound: readonly number[]) =>
      new AppendOutcomeUnknownError(
        writes.map((w) => w.stream),
        notFound.map((i) => writes[i]!.stream),
      );
    if (missing.length > 0) throw unknown(missing);
    // The store gives a write's events positions in the order of its writes: parts found out
    // of that order are not all ours.
    const inOrder = parts.every(
      (i, k) => k === 0 || found[parts[k - 1]!]!.lastPosition < found[i]!.lastPosition,
    );
    if (!inOrder) throw unknown(parts);
    const results: AppendResult[] = [];
    for (const [i, result] of found.entries()) {
      results.push(result ?? (await emptyWriteResult(writes, found, i, r)));
    }
    return results;
  };

  /**
   * The result of a part with no events (it only checked its stream's revision) of a write
   * that landed: the result of an earlier part on the same stream, else the stream as read now.
   */
  const emptyWriteResult = async (
    writes: readonly StreamWrite[],
    found: readonly (AppendResult | undefined)[],
    index: number,
    r: Retrier,
  ): Promise<AppendResult> => {
    for (let j = index - 1; j >= 0; j--) {
      const earlier = found[j];
      if (earlier && writes[j]!.stream === writes[index]!.stream) return earlier;
    }
    const expected = writes[index]!.expectedVersion;
    const [last] = await readRetried(
      writes[index]!.stream,
      {
        direction: 'backwards',
        maxCount: 1,
        ...(typeof expected === 'bigint' ? { from: expected } : {}),
      },
      r,
    );
    return last
      ? { nextExpectedRevision: last.streamRevision, lastPosition: last.globalPosition }
      : {
          nextExpectedRevision: -1n,
          lastPosition: await retried('headPosition', () => store.headPosition(), r),
        };
  };

  const appendToStreams = async (writes: readonly StreamWrite[]): Promise<AppendResult[]> => {
    const r = retrier('appendToStreams');
    // Whether an attempt failed after it may have reached the store. Every attempt sends the
    // same writes: no outage line is added to them (`recordOutage` writes it in an operation
    // stream that exists, and the engine's atomic write is the one that creates it).
    let unanswered = false;
    const writesEvents = writes.some((w) => w.events.length > 0);
    for (;;) {
      if (unanswered && writesEvents) {
        const found = await landedWrites(writes, r);
        if (found) return found;
      }
      try {
        const results = await store.appendToStreams!(writes);
        succeeded();
        return results;
      } catch (error) {
        if (error instanceof ConcurrencyError && unanswered && writesEvents) {
          // Refused because an attempt committed after the check above (its commit was still
          // on its way), or because another writer wrote meanwhile?
          const found = await landedWrites(writes, r);
          if (found) return found;
          throw error;
        }
        if (!isTransient(error)) throw error;
        unanswered = true;
        await r.wait(error);
      }
    }
  };

  const append = async (
    stream: string,
    events: readonly EventData[],
    appendOptions: AppendOptions = {},
  ): Promise<AppendResult> => {
    const expected = appendOptions.expectedVersion ?? 'any';
    const exact = isExact(expected);
    const r = retrier('append');
    // Batches whose answer was lost: any of them may have been committed.
    const unanswered: EventData[][] = [];
    for (;;) {
      if (!exact && unanswered.length > 0) {
        const found = await landed(stream, expected, unanswered);
        if (found) return found;
      }
      const notice = r.failing
        ? options.recordOutage?.(stream, expected, r.waitedMs, clock.now())
        : undefined;
      const batch = notice?.length ? [...notice, ...events] : [...events];
      try {
        const result = await store.append(stream, batch, appendOptions);
        succeeded();
        return result;
      } catch (error) {
        if (error instanceof ConcurrencyError && unanswered.length > 0) {
          // Refused because one of our own earlier attempts went through, or another writer's?
          const found = await landed(stream, expected, unanswered);
          if (found) return found;
          throw error;
        }
        if (!isTransient(error)) throw error;
        unanswered.push(batch);
        await r.wait(error);
      }
    }
  };

  // Subscribed again after the last event delivered. One subscribed with `after: 'end'` that
  // fails before delivering anything is subscribed again from the end: what was appended in
  // between is not delivered (the engine itself always subscribes after a known position).
  const subscribe: EventStore['subscribe'] = (subscribeOptions = {}) =>
    new Observable<RecordedEvent>((subscriber) => {
      let after = subscribeOptions.after ?? 0n;
      let r = retrier('subscribe');
      let inner: { unsubscribe(): void } | undefined;
      let stopped = false;
      const open = () => {
        inner = store.subscribe({ ...subscribeOptions, after }).subscribe({
          next: (event) => {
            if (r.failing) {
              succeeded();
              r = retrier('subscribe');
            }
            after = event.globalPosition;
            subscriber.next(event);
          },
          complete: () => subscriber.complete(),
          error: (error: unknown) => {
            if (stopped) return;
            if (!isTransient(error)) return subscriber.error(error);
            // A subscription that ran for a while before failing starts its budget now.
            if (!r.failing) r = retrier('subscribe');
            r.wait(error).then(
              () => {
                if (!stopped) open();
              },
              (given: unknown) => subscriber.error(given),
            );
          },
        });
      };
      open();
      return () => {
        stopped = true;
        inner?.unsubscribe();
      };
    });

  return {
    outage: { host, isTransient },
    append,
    // Offered when the store offers it: the engine then writes a request and its queue place
    // in one commit (request-operation.ts), on SQLite and PostgreSQL too.
    ...(store.appendToStreams ? { appendToStreams } : {}),
    readStream: (stream, readOptions) => readRetried(stream, readOptions),
    readAll: (readOptions) => retried('readAll', () => store.readAll(readOptions)),
    headPosition: () => retried('headPosition', () => store.headPosition()),
    // Workers judge leases by it: it must not disappear behind the decorator.
    ...(store.currentTime
      ? { currentTime: () => retried('currentTime', () => store.currentTime!()) }
      : {}),
    subscribe,
    close: () => {
      closing.abort();
      return store.close();
    },
  };
};
