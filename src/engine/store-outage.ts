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
} from '../domain/event-store.js';
import {
  DEFAULT_OUTAGE_BACKOFF,
  outageDelayMs,
  type OutageBackoff,
} from '../domain/outage-backoff.js';
import { systemClock, type Clock } from './clock.js';
import { findBatch, LANDED_SEARCH_WINDOW } from './append-landed.js';
import {
  StoreUnavailableError,
  type StoreCall,
  type StoreOutageNotice,
} from './store-unavailable.js';

export { StoreUnavailableError, type StoreCall, type StoreOutageNotice };

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
   * Events to record first in the append that goes through after a call waited
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
  const retrier = (call: StoreCall) => {
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

  const retried = async <T>(call: StoreCall, work: () => Promise<T>): Promise<T> => {
    const r = retrier(call);
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

  const readRetried = (stream: string, readOptions?: ReadStreamOptions) =>
    retried('readStream', () => store.readStream(stream, readOptions));

  /** Whether one of the batches sent (whose answers were lost) is in the stream. */
  const landed = async (
    stream: string,
    expected: ExpectedVersion,
    sent: readonly (readonly EventData[])[],
  ): Promise<AppendResult | undefined> => {
    const longest = Math.max(...sent.map((b) => b.length));
    if (typeof expected === 'bigint' || expected === 'no_stream') {
      const from = expected === 'no_stream' ? 0n : expected + 1n;
      const recorded = await readRetried(stream, { from, maxCount: longest });
      for (const batch of sent) {
        const found = findBatch(recorded, batch, 'start');
        if (found) return found;
      }
      return undefined;
    }
    const tail = (
      await readRetried(stream, {
        direction: 'backwards',
        maxCount: LANDED_SEARCH_WINDOW + longest,
      })
    ).reverse();
    for (const batch of sent) {
      const found = findBatch(tail, batch, 'anywhere');
      if (found) return found;
    }
    return undefined;
  };

  const append = async (
    stream: string,
    events: readonly EventData[],
    appendOptions: AppendOptions = {},
  ): Promise<AppendResult> => {
    const expected = appendOptions.expectedVersion ?? 'any';
    const exact = typeof expected === 'bigint' || expected === 'no_stream';
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

  // No appendToStreams here, on purpose: a retried atomic append whose answer was lost could
  // not yet be told apart from another writer's (append's `landed` check is per stream), so a
  // store behind this decorator offers only `append`, and the engine writes a request and its
  // queue place as two appends, each retried safely.
  return {
    outage: { host, isTransient },
    append,
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
