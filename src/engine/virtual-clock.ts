import type { Clock } from './clock.js';

export interface VirtualClock extends Clock {
  /** Every delay the engine slept, in order: backoff can be asserted without waiting. */
  readonly sleeps: readonly number[];
  /** Moves the time forward by `ms` without recording a sleep (timers now due fire). */
  advance(ms: number): void;
}

/**
 * A clock whose time moves only when someone sleeps or calls `advance`: retries and backoff run
 * instantly and deterministically in tests, and the simulated cloud keeps its own time with one
 * (which is why it lives in the engine, beside `Clock`, and `opledger/testing` only re-exports
 * it). Its timers (`setTimer`, which times steps' `timeoutMs` and `heartbeatTimeoutMs`) fire
 * when a sleep or `advance` moves the time to or past them, in the order they fall due, before
 * the sleep resolves: a step that sleeps 5 s on this clock with a 1 s timeout times out.
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
 * clock.setTimer(500, () => console.log('fired')); // fires on the next sleep or advance of 500+
 * ```
 */
export const createVirtualClock = (
  start: Date | string = '2026-01-05T00:00:00.000Z',
): VirtualClock => {
  let now = new Date(start).getTime();
  const sleeps: number[] = [];
  let seq = 0;
  const timers = new Map<number, { at: number; fire: () => void }>();
  const fireDue = () => {
    // A timer may set another (a heartbeat timeout rearms itself): look again after each one.
    for (;;) {
      let due: [number, { at: number; fire: () => void }] | undefined;
      for (const entry of timers) {
        if (entry[1].at <= now && (!due || entry[1].at < due[1].at)) due = entry;
      }
      if (!due) return;
      timers.delete(due[0]);
      due[1].fire();
    }
  };
  return {
    sleeps,
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
      fireDue();
    },
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      sleeps.push(ms);
      now += ms;
      fireDue();
      await Promise.resolve();
      if (signal?.aborted) throw signal.reason;
    },
    setTimer: (ms, fire) => {
      const id = seq++;
      timers.set(id, { at: now + ms, fire });
      return () => {
        timers.delete(id);
      };
    },
  };
};
