import type { Clock } from '../engine/clock.js';

export interface VirtualClock extends Clock {
  /** Every delay the engine slept, in order: backoff can be asserted without waiting. */
  readonly sleeps: readonly number[];
  advance(ms: number): void;
}

/**
 * A clock whose time moves only when someone sleeps or calls `advance`: retries and backoff run
 * instantly and deterministically in tests.
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

/** Ids `op-000001`, `op-000002`, ...: readable in tests and sorted by creation. */
export const createSequentialIds = (prefix = 'op-'): (() => string) => {
  let n = 0;
  return () => `${prefix}${String(++n).padStart(6, '0')}`;
};
