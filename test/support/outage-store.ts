import { Observable } from 'rxjs';
import type { EventStore } from '../../src/index.js';
import type { VirtualClock } from '../../src/testing/index.js';

/** A connection refused, as Node reports it. */
export const refused = (): Error =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

export const isRefusedOrReset = (error: unknown): boolean =>
  ['ECONNREFUSED', 'ECONNRESET'].includes((error as { code?: string }).code ?? '');

export interface OutageStore extends EventStore {
  /** Every call fails with a refused connection until the clock reaches now + `ms`. */
  downFor(ms: number): void;
  /**
   * The next `n` appends (`append` or `appendToStreams`) are committed, then fail as if the
   * answer was lost (ECONNRESET).
   */
  loseAnswers(n: number): void;
  /** Calls of each kind made to the inner store, failed ones included. */
  readonly calls: Record<string, number>;
}

/**
 * A store whose outages a test scripts on a virtual clock: the same clock drives the outage
 * budget, so a 30 s outage takes no time. Live subscriptions error when the store goes down.
 */
export const createOutageStore = (inner: EventStore, clock: VirtualClock): OutageStore => {
  let downUntil = -Infinity;
  let lostAnswers = 0;
  const calls: Record<string, number> = {};
  const live = new Set<(error: unknown) => void>();
  const down = () => clock.now().getTime() < downUntil;
  const answer = <T>(result: T): T => {
    if (lostAnswers > 0) {
      lostAnswers -= 1;
      throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    }
    return result;
  };
  const call = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    calls[name] = (calls[name] ?? 0) + 1;
    if (down()) throw refused();
    return work();
  };
  return {
    calls,
    outage: { host: 'fake:5432/test', isTransient: isRefusedOrReset },
    downFor: (ms) => {
      downUntil = clock.now().getTime() + ms;
      for (const fail of [...live]) fail(refused());
    },
    loseAnswers: (n) => {
      lostAnswers = n;
    },
    append: (stream, events, options) =>
      call('append', async () => answer(await inner.append(stream, events, options))),
    // Offered as the inner store offers it.
    ...(inner.appendToStreams
      ? {
          appendToStreams: (writes: Parameters<NonNullable<EventStore['appendToStreams']>>[0]) =>
            call('appendToStreams', async () => answer(await inner.appendToStreams!(writes))),
        }
      : {}),
    readStream: (stream, options) => call('readStream', () => inner.readStream(stream, options)),
    readAll: (options) => call('readAll', () => inner.readAll(options)),
    headPosition: () => call('headPosition', () => inner.headPosition()),
    subscribe: (options) =>
      new Observable((subscriber) => {
        calls.subscribe = (calls.subscribe ?? 0) + 1;
        if (down()) {
          subscriber.error(refused());
          return;
        }
        const fail = (error: unknown) => subscriber.error(error);
        live.add(fail);
        const subscription = inner.subscribe(options).subscribe(subscriber);
        return () => {
          live.delete(fail);
          subscription.unsubscribe();
        };
      }),
    close: () => inner.close(),
  };
};

/**
 * `inner` recording what each of its appends answered, in order: 'ok', or what `failure` calls
 * the error (a conflict, a timeout, a lost answer…). Under an outage decorator, it tells which
 * path a retried append took.
 */
export const recordingAnswers = (
  inner: EventStore,
  failure: (error: unknown) => string,
): { store: EventStore; answers: string[] } => {
  const answers: string[] = [];
  const store: EventStore = {
    ...inner,
    append: (...args) =>
      inner.append(...args).then(
        (result) => {
          answers.push('ok');
          return result;
        },
        (error: unknown) => {
          answers.push(failure(error));
          throw error;
        },
      ),
  };
  return { store, answers };
};
