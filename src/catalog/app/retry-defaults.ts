import type { RetryPolicy } from '../../domain/retry-policy.js';
import { CLOUD_REQUEST_CODES } from '../cloud-errors.js';

// The retry policies the App operations start from, before the user's own options refine them.

/**
 * A refused request (an image in no registry, a missing container) is refused again: a run
 * fails over or rolls back at once, and an undo reports what it could not restore instead of
 * retrying for half an hour what cannot succeed. Outages and transient errors are retried.
 */
export const DEFAULT_RETRY: Partial<RetryPolicy> = {
  maxAttempts: 3,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  nonRetryable: [...CLOUD_REQUEST_CODES],
};
export const DEFAULT_UNDO_RETRY: Partial<RetryPolicy> = {
  maxAttempts: 30,
  initialIntervalMs: 2_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 60_000,
  nonRetryable: [...CLOUD_REQUEST_CODES],
};

/**
 * The 60 s cap belongs to the default initial interval: kept over a longer interval the user
 * set, it would make their policy invalid (cap below the interval) for a field they never set.
 */
export const undoRetryOver = (given: Partial<RetryPolicy> | undefined): Partial<RetryPolicy> => {
  const merged = { ...DEFAULT_UNDO_RETRY, ...given };
  if (given?.initialIntervalMs !== undefined && given.maximumIntervalMs === undefined) {
    delete merged.maximumIntervalMs;
  }
  return merged;
};
