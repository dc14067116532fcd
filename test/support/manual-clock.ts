import type { Clock } from '../../src/index.js';

/**
 * A clock whose sleeps wait until the test moves time on with `advance`: for loops that sleep
 * between rounds (a worker's renewals), which the virtual clock would spin through at once.
 */
export interface ManualClock extends Clock {
  advance(ms: number): void;
}

export const createManualClock = (start = Date.now()): ManualClock => {
  let now = start;
  const timers: { at: number; fire: () => void }[] = [];
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
      for (const t of timers.filter((x) => x.at <= now)) {
        timers.splice(timers.indexOf(t), 1);
        t.fire();
      }
    },
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const timer = {
          at: now + ms,
          fire: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          timers.splice(timers.indexOf(timer), 1);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        timers.push(timer);
      }),
  };
};
