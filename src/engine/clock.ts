/** Time as the engine sees it. Injected, so tests run retries and backoff without sleeping. */
export interface Clock {
  now(): Date;
  /** Resolves after `ms`; rejects with the signal's reason if it is aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Calls `fire` once, when the clock has moved `ms` forward, unless the returned function is
   * called first. The engine times steps with it (`timeoutMs`, `heartbeatTimeoutMs`) while they
   * run: unlike `sleep`, it must not move a virtual clock's time itself. Optional: a clock
   * without it gets one built on `sleep`.
   */
  setTimer?(ms: number, fire: () => void): () => void;
}

// setTimeout fires at once for a delay above this (2^31 - 1 ms): longer timers are chained.
const MAX_DELAY_MS = 2_147_483_647;

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  setTimer: (ms, fire) => {
    let timer: ReturnType<typeof setTimeout>;
    const arm = (left: number) => {
      timer = setTimeout(
        () => (left > MAX_DELAY_MS ? arm(left - MAX_DELAY_MS) : fire()),
        Math.min(left, MAX_DELAY_MS),
      );
    };
    arm(ms);
    return () => clearTimeout(timer);
  },
};

/**
 * Calls `fire` once `clock` has moved `ms` forward, with the clock's own timer when it has one;
 * returns the function that cancels it.
 *
 * @example
 * const cancel = startTimer(clock, 30_000, () => controller.abort(new Error('too slow')));
 * await work();
 * cancel();
 */
export const startTimer = (clock: Clock, ms: number, fire: () => void): (() => void) => {
  if (clock.setTimer) return clock.setTimer(ms, fire);
  const controller = new AbortController();
  clock.sleep(ms, controller.signal).then(fire, () => undefined);
  return () => controller.abort();
};

const formatters = new WeakMap<Pick<Clock, 'now'>, () => string>();

/**
 * `clock.now()` as an ISO 8601 string, formatted once per millisecond: every event the engine
 * records carries one, about twenty per five-step operation, and `toISOString` was 5% of an
 * operation in a profile. One formatter per clock, shared by every run on it, so operations
 * that follow each other within a millisecond share the string too.
 *
 * @example
 * const now = isoNow(systemClock);
 * now(); // '2026-03-02T09:00:01.000Z'
 */
export const isoNow = (clock: Pick<Clock, 'now'>): (() => string) => {
  let format = formatters.get(clock);
  if (!format) {
    let lastMs = Number.NaN;
    let last = '';
    format =
      clock === systemClock
        ? // The system clock's time is Date.now(): a Date is made only when the millisecond
          // changed, not for each of the fifteen or so timestamps of an operation.
          () => {
            const ms = Date.now();
            if (ms !== lastMs) {
              last = new Date(ms).toISOString();
              lastMs = ms;
            }
            return last;
          }
        : () => {
            const date = clock.now();
            const ms = date.getTime();
            // An invalid Date (NaN) never equals the last: toISOString throws for it, as before.
            if (ms !== lastMs) {
              last = date.toISOString();
              lastMs = ms;
            }
            return last;
          };
    formatters.set(clock, format);
  }
  return format;
};
