import type { Clock } from '../../engine/clock.js';
import type { Resolved } from './app-options.js';

const isRetryableCloudError = (error: unknown) =>
  (error as { retryable?: unknown })?.retryable === true;

/**
 * Runs a clean-up call until it succeeds, through outages and transient errors (never aborted:
 * a run that throws must not leave partial changes behind).
 */
export const persist = async <T>(clock: Clock, fn: () => Promise<T>, attempts = 40): Promise<T> => {
  let delay = 1_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || !isRetryableCloudError(error)) throw error;
      await clock.sleep(delay);
      delay = Math.min(delay * 2, 60_000);
    }
  }
};

/**
 * Applies `apply` to each item in turn; if one fails (or the operation is cancelled), reverts the
 * items already attempted, the failed one included (every call is idempotent), then rethrows.
 */
export const applyAll = async (
  r: Resolved,
  items: readonly string[],
  apply: (item: string) => Promise<unknown>,
  revert: (item: string) => Promise<unknown>,
): Promise<void> => {
  const attempted: string[] = [];
  try {
    for (const item of items) {
      attempted.push(item);
      await apply(item);
    }
  } catch (error) {
    for (const item of attempted.reverse()) await persist(r.clock, () => revert(item));
    throw error;
  }
};
