import { StoreClosedError } from '../domain/errors.js';
import {
  DEFAULT_OUTAGE_BACKOFF,
  outageDelayMs,
  type OutageBackoff,
} from '../domain/outage-backoff.js';
import { systemClock, type Clock } from '../engine/clock.js';
import {
  DEFAULT_STORE_OUTAGE_MS,
  StoreUnavailableError,
  type StoreOutageNotice,
} from '../engine/store-outage.js';
import type { ReadStoreCall } from '../engine/store-unavailable.js';
import type { ReadStore } from './read-store.js';

/** What a projector does about outages of its stores; as the engine's `storeOutage`. */
export interface ProjectorOutageOptions {
  /** How long one call may go on failing before it gives up; default 60 000 ms. 0: never wait. */
  maxMs?: number;
  /** Told when a store is waited for, when it is back, and when a call gives up. */
  onOutage?: (notice: StoreOutageNotice) => void;
  /** Real time by default. */
  clock?: Clock;
  /** A number in [0, 1) per delay, for the jitter; `Math.random` by default. */
  random?: () => number;
  backoff?: OutageBackoff;
}

/** Read stores this module made: wrapping one again returns it as it is. */
const riding = new WeakSet<ReadStore>();

/** Least time between two 'waiting' notices, as for the event store. */
const NOTICE_EVERY_MS = 1_000;

/** What a projector's caller does once the read store is back (the error's advice). */
export const PROJECTOR_ADVICE =
  'The read models stop at their checkpoint: once the store answers again, start() or catchUp() the projector and it resumes from there, applying each event once.';

/**
 * A read store whose calls ride out an outage, as `withStoreOutageRetry` does for an event
 * store: a call that fails for a reason `readStore.outage.isTransient` calls transient is made
 * again, with the same exponential backoff and jitter, until it goes through or `maxMs` have
 * passed since its first failure; then it fails with a `StoreUnavailableError` (store: 'read
 * store'). Other errors pass at once. A read store without `outage` traits is returned as it is.
 *
 * A projection transaction whose answer was lost (the connection dropped after COMMIT was sent)
 * is not applied twice: before it is run again the checkpoint is read, and one already at the
 * transaction's position means it committed. That holds because a projection's checkpoint only
 * moves in its own transactions, which one projector makes one at a time.
 *
 * @example
 * ```ts
 * const readStore = withReadStoreOutageRetry(createPostgresReadStore({ connectionString }), {
 *   maxMs: 30_000,
 *   onOutage: (n) => n.kind === 'waiting' && console.error(`read store away: ${n.host}`),
 * });
 * ```
 */
export const withReadStoreOutageRetry = (
  readStore: ReadStore,
  options: ProjectorOutageOptions = {},
): ReadStore => {
  const traits = readStore.outage;
  const maxMs = options.maxMs ?? DEFAULT_STORE_OUTAGE_MS;
  // Wrapped once: nested retries would multiply the budget.
  if (!traits || !(maxMs > 0) || riding.has(readStore)) return readStore;
  const { host, isTransient } = traits;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const backoff = options.backoff ?? DEFAULT_OUTAGE_BACKOFF;
  const closing = new AbortController();
  const ms = () => clock.now().getTime();
  const notify = (notice: StoreOutageNotice) => {
    try {
      options.onOutage?.(notice);
    } catch {
      // A failing listener must not turn a store that came back into a failed call.
    }
  };
  // One outage as people see it: from the first failure of any call to the first success after.
  let downSince: number | undefined;
  let lastNotice = -Infinity;
  const succeeded = () => {
    if (downSince === undefined) return;
    notify({ kind: 'recovered', host, unreachableMs: ms() - downSince });
    downSince = undefined;
    lastNotice = -Infinity;
  };

  /**
   * Runs `work` until it goes through. After a failure, `landed` (when given) says whether the
   * failed attempt went through after all, and then `work` is not run again.
   */
  const retried = async <T>(
    call: ReadStoreCall,
    work: () => Promise<T>,
    landed?: () => Promise<{ value: T } | undefined>,
  ): Promise<T> => {
    const started = ms();
    let failures = 0;
    for (;;) {
      try {
        const found = failures > 0 && landed ? await landed() : undefined;
        if (found) {
          succeeded();
          return found.value;
        }
        const value = await work();
        succeeded();
        return value;
      } catch (error) {
        if (!isTransient(error)) throw error;
        if (closing.signal.aborted) throw new StoreClosedError();
        failures += 1;
        downSince ??= started;
        if (ms() - lastNotice >= NOTICE_EVERY_MS) {
          lastNotice = ms();
          notify({ kind: 'waiting', host, unreachableMs: ms() - downSince, cause: error });
        }
        const delay = outageDelayMs({
          failures,
          waitedMs: ms() - started,
          budgetMs: maxMs,
          random: random(),
          backoff,
        });
        if (delay === undefined) {
          const given = new StoreUnavailableError(
            host,
            ms() - started,
            call,
            error,
            'read store',
            PROJECTOR_ADVICE,
          );
          notify({ kind: 'gave_up', host, unreachableMs: given.unreachableMs, error: given });
          throw given;
        }
        try {
          await clock.sleep(delay, closing.signal);
        } catch {
          throw new StoreClosedError();
        }
      }
    }
  };

  const read =
    <A extends unknown[], T>(call: ReadStoreCall, f: (...args: A) => Promise<T>) =>
    (...args: A): Promise<T> =>
      retried(call, () => f(...args));

  const wrapped: ReadStore = {
    outage: traits,
    checkpoint: read('checkpoint', (p: string) => readStore.checkpoint(p)),
    transaction: (projection, position, apply) =>
      retried(
        'transaction',
        () => readStore.transaction(projection, position, apply),
        async () =>
          (await readStore.checkpoint(projection)) >= position ? { value: undefined } : undefined,
      ),
    reset: read('reset', (p: string) => readStore.reset(p)),
    skippedEvents: read('skippedEvents', (p: string) => readStore.skippedEvents(p)),
    document: read('readModel', (c: string, k: string) => readStore.document(c, k)),
    documents: read('readModel', (c: string, page: { after?: string; limit: number }) =>
      readStore.documents(c, page),
    ),
    projectionVersion: read('projectionVersion', (p: string) => readStore.projectionVersion(p)),
    resetProjection: read(
      'resetProjection',
      (p: string, v: number, collections: readonly string[]) =>
        readStore.resetProjection(p, v, collections),
    ),
    operation: read('readModel', (id: string) => readStore.operation(id)),
    logLines: read('readModel', (id: string) => readStore.logLines(id)),
    listOperations: read('readModel', (q: Parameters<ReadStore['listOperations']>[0]) =>
      readStore.listOperations(q),
    ),
    // Read page by page by its consumer: a page that fails surfaces to it as it is.
    operationsCreatedBetween: (environment, from, to) =>
      readStore.operationsCreatedBetween(environment, from, to),
    resource: read('readModel', (e: string, t: string, h: string) => readStore.resource(e, t, h)),
    resources: read('readModel', (e: string) => readStore.resources(e)),
    environment: read('readModel', (e: string) => readStore.environment(e)),
    environments: read('readModel', () => readStore.environments()),
    operationDates: read('readModel', (e: string) => readStore.operationDates(e)),
    close: () => {
      closing.abort();
      return readStore.close();
    },
  };
  riding.add(wrapped);
  return wrapped;
};
