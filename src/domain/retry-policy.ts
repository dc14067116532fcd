/**
 * How a step (or its undo) is retried, after Temporal's retry policy. Every field has a default
 * (see `resolveRetryPolicy`), so a step names only what it changes.
 */
export interface RetryPolicy {
  /** Attempts per provider, the first included. Default 1: no retry unless asked for. */
  maxAttempts: number;
  /** Delay before the second attempt. Default 1 000 ms. */
  initialIntervalMs: number;
  /** Each delay is the previous one times this. Default 2. */
  backoffCoefficient: number;
  /** Cap on any delay. Default 100 x `initialIntervalMs` (Temporal's rule). */
  maximumIntervalMs: number;
  /** Error names or codes that fail the attempt for good, without retrying. Default none. */
  nonRetryable: readonly string[];
}

/** The defaults of the fields a policy leaves out, but for `maximumIntervalMs` (see below). */
export const defaultRetryPolicy: Omit<RetryPolicy, 'maximumIntervalMs'> = {
  maxAttempts: 1,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  nonRetryable: [],
};

/**
 * The maximum interval when a policy does not give one: 100 times its initial interval, as in
 * Temporal. A fixed cap would silently change the delays of a policy with a long initial
 * interval, or reject it for a field its author never set.
 */
export const DEFAULT_MAXIMUM_INTERVAL_FACTOR = 100;

/**
 * Fills in the fields a policy leaves out (an `undefined` field counts as left out).
 *
 * @example
 * resolveRetryPolicy({ maxAttempts: 3, initialIntervalMs: 60_000 });
 * // { maxAttempts: 3, initialIntervalMs: 60_000, backoffCoefficient: 2,
 * //   maximumIntervalMs: 6_000_000, nonRetryable: [] }
 */
export const resolveRetryPolicy = (policy: Partial<RetryPolicy> | undefined): RetryPolicy => {
  const given = Object.fromEntries(
    Object.entries(policy ?? {}).filter(([, value]) => value !== undefined),
  ) as Partial<RetryPolicy>;
  const initialIntervalMs = given.initialIntervalMs ?? defaultRetryPolicy.initialIntervalMs;
  return {
    ...defaultRetryPolicy,
    maximumIntervalMs: initialIntervalMs * DEFAULT_MAXIMUM_INTERVAL_FACTOR,
    ...given,
  };
};

/** Delay before the attempt after `failedAttempt` (1-based): exponential, capped. */
export const retryDelayMs = (policy: RetryPolicy, failedAttempt: number): number =>
  Math.round(
    Math.min(
      policy.maximumIntervalMs,
      policy.initialIntervalMs * policy.backoffCoefficient ** (failedAttempt - 1),
    ),
  );

export const isRetryable = (policy: RetryPolicy, error: { name: string; code?: string }): boolean =>
  !policy.nonRetryable.includes(error.name) &&
  !(error.code !== undefined && policy.nonRetryable.includes(error.code));

export const validateRetryPolicy = (policy: RetryPolicy): string | undefined => {
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    return 'retry.maxAttempts must be an integer of at least 1';
  }
  if (!(policy.initialIntervalMs >= 0)) return 'retry.initialIntervalMs must be 0 or more';
  if (!(policy.backoffCoefficient >= 1)) return 'retry.backoffCoefficient must be 1 or more';
  if (!(policy.maximumIntervalMs >= policy.initialIntervalMs)) {
    return 'retry.maximumIntervalMs must be at least retry.initialIntervalMs';
  }
  return undefined;
};
