import type { RetryPolicy } from '../../domain/retry-policy.js';
import { systemClock, type Clock } from '../../engine/clock.js';
import {
  DEFAULT_DRAIN_MS,
  DEFAULT_STOP_TIMEOUT_MS,
  type InfrastructurePort,
} from '../infrastructure-port.js';
import { DEFAULT_RETRY, undoRetryOver } from './retry-defaults.js';

/** Options shared by the App operation factories. */
export interface AppCatalogOptions {
  /** Clock for health-check polling and clean-up retries; the simulated cloud's clock by default. */
  clock?: Clock;
  /**
   * Retry policy of each step's run, over the default: 3 attempts, 1 s, x2, refusals not
   * retried; no cap of its own (the engine's: 100 x the initial interval).
   */
  retry?: Partial<RetryPolicy>;
  /**
   * Retry policy of each undo, over the default: 30 attempts, 2 s, x2, capped at 60 s, refusals
   * not retried. The 60 s cap goes with the default 2 s: an undoRetry that sets its own
   * `initialIntervalMs` and no `maximumIntervalMs` gets the engine's cap (100 x its interval).
   */
  undoRetry?: Partial<RetryPolicy>;
  drainMs?: number;
  stopTimeoutMs?: number;
  healthCheckIntervalMs?: number;
  /**
   * Object-storage bucket of the platform's own records of each app: the key that seals
   * recorded environments, and which operation created the app's instance and endpoint.
   * 'opledger-apps' by default.
   */
  configBucket?: string;
}

export interface Resolved {
  infra: InfrastructurePort;
  clock: Clock;
  retry: Partial<RetryPolicy>;
  undoRetry: Partial<RetryPolicy>;
  drainMs: number;
  stopTimeoutMs: number;
  healthCheckIntervalMs: number;
  configBucket: string;
}

export const resolveOptions = (
  infra: InfrastructurePort,
  options: AppCatalogOptions = {},
): Resolved => ({
  infra,
  clock: options.clock ?? infra.clock ?? systemClock,
  // Given policies refine the defaults: a retry option that names only maxAttempts keeps
  // the rule that a refused request is not retried.
  retry: { ...DEFAULT_RETRY, ...options.retry },
  undoRetry: undoRetryOver(options.undoRetry),
  drainMs: options.drainMs ?? DEFAULT_DRAIN_MS,
  stopTimeoutMs: options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
  healthCheckIntervalMs: options.healthCheckIntervalMs ?? 5_000,
  configBucket: options.configBucket ?? 'opledger-apps',
});
