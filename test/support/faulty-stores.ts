import { Observable } from 'rxjs';
import type { EventStore, ReadStore } from '../../src/index.js';
import type { StreamWrite } from '../../src/domain/event-store.js';

/**
 * What one store call meets: `ok`; `refuse` (it fails before reaching the store, as a refused
 * connection); `lost` (it goes through, then fails as if its answer was lost: a COMMIT whose
 * acknowledgement never came back).
 */
export type Fault = 'ok' | 'refuse' | 'lost';

const refusedError = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
const resetError = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

export const isConnectionError = (error: unknown): boolean =>
  ['ECONNREFUSED', 'ECONNRESET'].includes((error as { code?: string } | null)?.code ?? '');

/** The faults of a script, one per call, in order; every call after the script is `ok`. */
export const faultScript = (faults: readonly Fault[]) => {
  let next = 0;
  return {
    take: (): Fault => faults[next++] ?? 'ok',
    get used() {
      return Math.min(next, faults.length);
    },
  };
};

/** Where the faulty stores take each call's fault from. */
export interface Script {
  take(): Fault;
}

/** Every call refused while `down` is true: an outage switched on and off by a test. */
export const switchable = () => {
  const state = { down: false, take: (): Fault => (state.down ? 'refuse' : 'ok') };
  return state;
};

const faulty = async <T>(script: Script, work: () => Promise<T>): Promise<T> => {
  const fault = script.take();
  if (fault === 'refuse') throw refusedError();
  const value = await work();
  if (fault === 'lost') throw resetError();
  return value;
};

/**
 * An event store whose calls meet the faults of `script`, classified as an adapter would. Each
 * event a live subscription delivers takes a fault too: `refuse` ends the subscription with an
 * error before the event, `lost` just after it.
 */
export const faultyEventStore = (inner: EventStore, script: Script): EventStore => ({
  outage: { host: 'faulty:5432/events', isTransient: isConnectionError },
  append: (stream, events, options) => faulty(script, () => inner.append(stream, events, options)),
  // Offered as the inner store offers it; one fault for the whole atomic write.
  ...(inner.appendToStreams
    ? {
        appendToStreams: (writes: readonly StreamWrite[]) =>
          faulty(script, () => inner.appendToStreams!(writes)),
      }
    : {}),
  readStream: (stream, options) => faulty(script, () => inner.readStream(stream, options)),
  readAll: (options) => faulty(script, () => inner.readAll(options)),
  headPosition: () => faulty(script, () => inner.headPosition()),
  subscribe: (options) =>
    new Observable((subscriber) => {
      const subscription = inner.subscribe(options).subscribe({
        next: (event) => {
          const fault = script.take();
          if (fault === 'refuse') return subscriber.error(refusedError());
          subscriber.next(event);
          if (fault === 'lost') subscriber.error(resetError());
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      return () => subscription.unsubscribe();
    }),
  close: () => inner.close(),
});

/** A read store whose calls meet the faults of `script` (a transaction's `lost`: committed). */
export const faultyReadStore = (inner: ReadStore, script: Script): ReadStore => {
  const wrapped = Object.fromEntries(
    Object.entries(inner).map(([key, value]) => [
      key,
      typeof value === 'function' && key !== 'close' && key !== 'operationsCreatedBetween'
        ? (...args: unknown[]) =>
            faulty(script, () => (value as (...a: unknown[]) => Promise<unknown>)(...args))
        : value,
    ]),
  ) as unknown as ReadStore;
  return {
    ...wrapped,
    outage: { host: 'faulty:5432/reads', isTransient: isConnectionError },
  };
};
