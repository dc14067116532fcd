import type { Clock } from '../engine/clock.js';
import { systemClock } from '../engine/clock.js';

/**
 * The clock of a simulated run. Time is virtual: it starts at `start` and moves by what is
 * slept, so a 15 s drain reads as 15 s in the Operation Log and in the measured downtime.
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

export interface SimulationClockOptions {
  start: Date;
  speed: number;
  /**
   * Time never reads earlier than this (the wall clock, for the CLI): events written by other
   * processes on the wall clock, such as a cancel, never come after the ones written here.
   */
  floor?: () => number;
}

export const createSimulationClock = (options: SimulationClockOptions): SimulationClock => {
  const { speed, floor } = options;
  let now = options.start.getTime();
  const read = () => {
    if (floor) now = Math.max(now, floor());
    return now;
  };
  let timers: { time: number; action: () => Promise<unknown> }[] = [];
  return {
    speed,
    at: (time, action) => {
      timers.push({ time, action });
    },
    now: () => new Date(read()),
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      const real = Number.isFinite(speed) ? ms / speed : 0;
      const from = read();
      const startedAt = performance.now();
      try {
        if (real >= 1) await systemClock.sleep(real, signal);
        else await Promise.resolve();
      } catch (error) {
        // Cut short by a cancel: as much virtual time passed as the real time allowed.
        now = Math.max(now, from + Math.min(ms, (performance.now() - startedAt) * speed));
        throw error;
      }
      if (signal?.aborted) throw signal.reason;
      now = Math.max(now, from + ms);
      const due = timers.filter((t) => t.time <= now);
      timers = timers.filter((t) => t.time > now);
      for (const t of due) await t.action();
    },
  };
};
