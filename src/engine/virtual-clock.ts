import type { Clock } from './clock.js';

export interface VirtualClock extends Clock {
  /** Every delay the engine slept, in order: backoff can be asserted without waiting. */
  readonly sleeps: readonly number[];
  /** Moves the time forward by `ms` without recording a sleep. */
  advance(ms: number): void;
}

/**
 * A clock whose time moves only when someone sleeps or calls `advance`: retries and backoff run
 * instantly and deterministically in tests, and the simulated cloud keeps its own time with one
 * (which is why it lives in the engine, beside `Clock`, and `opledger/testing` only re-exports
 * it).
 *
 * @param start the clock's first time: a `Date`, or a string `new Date()` parses (ISO 8601 UTC
 *   best); `2026-01-05T00:00:00.000Z`, a Monday at the start of ISO week 2026-W02, by default.
 *   Choose it to put operations in a given week of an Activity Report.
 * @example
 * ```ts
 * const clock = createVirtualClock('2026-03-02T09:00:00.000Z');
 * const engine = createEngine({ store, operations, clock });
 * clock.now(); // 2026-03-02T09:00:00.000Z, until a step sleeps or the test calls clock.advance(ms)
 * await clock.sleep(1_000);
 * clock.now().toISOString(); // '2026-03-02T09:00:01.000Z'
 * clock.sleeps; // [1000]
 * ```
 */
export const createVirtualClock = (
  start: Date | string = '2026-01-05T00:00:00.000Z',
): VirtualClock => {
  let now = new Date(start).getTime();
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      sleeps.push(ms);
      now += ms;
      await Promise.resolve();
      if (signal?.aborted) throw signal.reason;
    },
  };
};
