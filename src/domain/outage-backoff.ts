/**
 * How long to wait before calling an unreachable store again: exponential from
 * `initialDelayMs`, capped at `maxDelayMs`, with "equal jitter" (half the delay fixed, half
 * random) so that the processes that lost the same server do not all come back at the same
 * instant, and never past the outage budget. Pure: the randomness is a number given in.
 */
export interface OutageBackoff {
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_OUTAGE_BACKOFF: OutageBackoff = { initialDelayMs: 100, maxDelayMs: 5_000 };

/**
 * The delay before the call after `failures` failed ones (1-based), or `undefined` when the
 * budget is spent and the caller must give up.
 *
 * @param waitedMs time since the first failure of this call
 * @param budgetMs how long the call may go on failing (the outage budget)
 * @param random a number in [0, 1), e.g. `Math.random()`
 * @example
 * ```ts
 * outageDelayMs({ failures: 1, waitedMs: 0, budgetMs: 60_000, random: 0.5 }); // 75
 * outageDelayMs({ failures: 9, waitedMs: 59_000, budgetMs: 60_000, random: 0.5 }); // 1000
 * outageDelayMs({ failures: 9, waitedMs: 60_000, budgetMs: 60_000, random: 0.5 }); // undefined
 * ```
 */
export const outageDelayMs = ({
  failures,
  waitedMs,
  budgetMs,
  random,
  backoff = DEFAULT_OUTAGE_BACKOFF,
}: {
  failures: number;
  waitedMs: number;
  budgetMs: number;
  random: number;
  backoff?: OutageBackoff;
}): number | undefined => {
  const left = budgetMs - waitedMs;
  if (!(left > 0)) return undefined;
  const full = Math.min(backoff.maxDelayMs, backoff.initialDelayMs * 2 ** (failures - 1));
  const jittered = full / 2 + (full / 2) * Math.min(Math.max(random, 0), 1);
  return Math.max(1, Math.min(Math.round(jittered), Math.ceil(left)));
};
