import type { Clock } from '../engine/clock.js';
import { systemClock } from '../engine/clock.js';

/**
 * The clock of a simulated run. Time is virtual: it starts at `start` and moves only by what
 * is slept, so a 15 s drain reads as 15 s in the Operation Log and in the measured downtime.
 * `speed` paces it against the wall clock (virtual ms per real ms), which leaves time for a
 * cancel from another process; `Infinity` runs without waiting at all.
 */
export interface SimulationClock extends Clock {
  readonly speed: number;
  /**
   * Runs `action` when virtual time first reaches `time`, inside the sleep that reaches it, and
   * waits for it: whatever it does (a cancel) is recorded before the sleeper goes on.
   */
  at(time: number, action: () => Promise<unknown>): void;
}

export const createSimulationClock = (options: { start: Date; speed: number }): SimulationClock => {
  let now = options.start.getTime();
  const { speed } = options;
  let timers: { time: number; action: () => Promise<unknown> }[] = [];
  return {
    speed,
    at: (time, action) => {
      timers.push({ time, action });
    },
    now: () => new Date(now),
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      const real = Number.isFinite(speed) ? ms / speed : 0;
      if (real >= 1) await systemClock.sleep(real, signal);
      else await Promise.resolve();
      if (signal?.aborted) throw signal.reason;
      now += ms;
      const due = timers.filter((t) => t.time <= now);
      timers = timers.filter((t) => t.time > now);
      for (const t of due) await t.action();
    },
  };
};
