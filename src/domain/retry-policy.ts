/** How a step (or its undo) is retried, after Temporal's retry policy. */
export interface RetryPolicy {
  /** Attempts per provider, the first included. Default 1: no retry unless asked for. */
  maxAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  /** Error names or codes that fail the attempt for good, without retrying. */
  nonRetryable: readonly string[];
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 1,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 60_000,
  nonRetryable: [],
};

export const resolveRetryPolicy = (policy: Partial<RetryPolicy> | undefined): RetryPolicy => ({
  ...defaultRetryPolicy,
  ...policy,
});

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
