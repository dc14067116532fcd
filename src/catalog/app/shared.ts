import { z } from 'zod';
import { step, type JsonRun, type StepDraft } from '../../domain/operation-definition.js';
import type { RetryPolicy } from '../../domain/retry-policy.js';
import type { StepContext, StepLog } from '../../domain/step.js';
import { systemClock, type Clock } from '../../engine/clock.js';
import { CLOUD_REQUEST_CODES } from '../../adapters/infrastructure/cloud-errors.js';
import {
  DEFAULT_DRAIN_MS,
  DEFAULT_STOP_TIMEOUT_MS,
  type ContainerView,
  type InfrastructurePort,
} from '../../adapters/infrastructure/infrastructure-port.js';

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

/**
 * A refused request (an image in no registry, a missing container) is refused again: a run
 * fails over or rolls back at once, and an undo reports what it could not restore instead of
 * retrying for half an hour what cannot succeed. Outages and transient errors are retried.
 */
const DEFAULT_RETRY: Partial<RetryPolicy> = {
  maxAttempts: 3,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  nonRetryable: [...CLOUD_REQUEST_CODES],
};
const DEFAULT_UNDO_RETRY: Partial<RetryPolicy> = {
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
const undoRetryOver = (given: Partial<RetryPolicy> | undefined): Partial<RetryPolicy> => {
  const merged = { ...DEFAULT_UNDO_RETRY, ...given };
  if (given?.initialIntervalMs !== undefined && given.maximumIntervalMs === undefined) {
    delete merged.maximumIntervalMs;
  }
  return merged;
};

export const resolveOptions = (
  infra: InfrastructurePort,
  options: AppCatalogOptions = {},
): Resolved => ({
  infra,
  clock: options.clock ?? (infra as { clock?: Clock }).clock ?? systemClock,
  // Given policies refine the defaults: a retry option that names only maxAttempts keeps
  // the rule that a refused request is not retried.
  retry: { ...DEFAULT_RETRY, ...options.retry },
  undoRetry: undoRetryOver(options.undoRetry),
  drainMs: options.drainMs ?? DEFAULT_DRAIN_MS,
  stopTimeoutMs: options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
  healthCheckIntervalMs: options.healthCheckIntervalMs ?? 5_000,
  configBucket: options.configBucket ?? 'opledger-apps',
});

/** Params every App operation takes: which app, on which instance, behind which endpoint. */
export const appTarget = {
  app: z.string().min(1),
  /** The instance the app's containers run on; `${app}-host` by default. */
  instanceId: z.string().min(1).optional(),
  /** The load-balancer endpoint of the app; `${app}` by default. */
  endpointId: z.string().min(1).optional(),
};

export interface AppTargetParams {
  app: string;
  instanceId?: string | undefined;
  endpointId?: string | undefined;
}

export const instanceOf = (p: AppTargetParams) => p.instanceId ?? `${p.app}-host`;
export const endpointOf = (p: AppTargetParams) => p.endpointId ?? p.app;

/**
 * Container ids are deterministic per operation, so a retried run or an undo after a crash
 * (outcome unknown) finds the same containers: `${app}-${operationId}-${n}`.
 */
export const containerIds = (app: string, operationId: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${app}-${operationId}-${i + 1}`);

/** What is needed to start a container again exactly as it was. */
export interface ContainerSpecData {
  id: string;
  instanceId: string;
  image: string;
  command: string[];
  env: Record<string, string>;
  sizeMb: number;
}

export const specOf = (c: ContainerView): ContainerSpecData => ({
  id: c.id,
  instanceId: c.instanceId,
  image: c.image,
  command: c.command,
  env: c.env,
  sizeMb: c.sizeMb,
});

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

export const describeTargets = async (
  r: Resolved,
  endpointId: string,
  signal?: AbortSignal,
): Promise<string[]> => {
  const endpoint = await r.infra.loadBalancer.describeEndpoint(endpointId, { signal });
  if (!endpoint) throw new AppStateError(`endpoint ${endpointId} does not exist: provision first`);
  return endpoint.targets;
};

export const describeSpecs = async (
  r: Resolved,
  ids: readonly string[],
  signal?: AbortSignal,
): Promise<ContainerSpecData[]> => {
  const specs: ContainerSpecData[] = [];
  for (const id of ids) {
    const c = await r.infra.containers.describeContainer(id, { signal });
    if (!c) throw new AppStateError(`container ${id} is registered but does not exist`);
    specs.push(specOf(c));
  }
  return specs;
};

export class AppStateError extends Error {
  override name = 'AppStateError';
}

/** An undo that can never succeed (what it needs is gone): retrying it is pointless. */
export class RestoreImpossibleError extends AppStateError {
  override name = 'RestoreImpossibleError';
}

export const stopAndRemove = async (r: Resolved, id: string, signal?: AbortSignal) => {
  await r.infra.containers.stopContainer(
    { containerId: id, stopTimeoutMs: r.stopTimeoutMs },
    { signal },
  );
  await r.infra.containers.removeContainer(id, { signal });
};

/**
 * The targets of an endpoint for an undo: none when the endpoint is gone (deleted, or a cloud
 * that was rebuilt), since nothing can be registered on it, and an undo has nothing to take off.
 */
export const targetsForUndo = async (r: Resolved, endpointId: string): Promise<string[]> =>
  (await r.infra.loadBalancer.describeEndpoint(endpointId))?.targets ?? [];

/** Refuses to remove the last serving targets of an endpoint: that would be downtime. */
export const assertOthersServe = async (
  r: Resolved,
  endpointId: string,
  leaving: readonly string[],
) => {
  const targets = await targetsForUndo(r, endpointId);
  const others = targets.filter((t) => !leaving.includes(t));
  if (others.length === 0 && targets.some((t) => leaving.includes(t))) {
    throw new AppStateError(
      `endpoint ${endpointId} would have no target left: refusing to deregister ${leaving.join(', ')}`,
    );
  }
};

/** Polls the release health check until every container passes or the timeout elapses. */
export const healthCheck = async (
  r: Resolved,
  ids: readonly string[],
  opts: { strict: boolean; timeoutSeconds: number },
  signal: AbortSignal,
  log: StepLog,
) => {
  const deadline = r.clock.now().getTime() + opts.timeoutSeconds * 1_000;
  for (const id of ids) {
    for (;;) {
      const h = await r.infra.containers.checkHealth(
        { containerId: id, strict: opts.strict },
        {
          signal,
        },
      );
      if (h.healthy) {
        log(`Container ${id} passed the health check on ${h.path} (status ${h.status ?? '-'})`);
        break;
      }
      if (r.clock.now().getTime() + r.healthCheckIntervalMs > deadline) {
        throw new AppStateError(
          `container ${id} failed the release health check on ${h.path} (status ${h.status ?? 'no answer'}) within ${opts.timeoutSeconds} s`,
        );
      }
      await r.clock.sleep(r.healthCheckIntervalMs, signal);
    }
  }
};

/** Step kinds and policies shared by the App operations. */
export const undoable = <P, O>(
  r: Resolved,
  spec: {
    name: string;
    run: (ctx: StepContext<P>) => Promise<O>;
    undo: Parameters<typeof step<P, O>>[0]['undo'];
  } & JsonRun<P, O>,
): StepDraft<P> =>
  step<P, O>({
    ...spec,
    kind: 'undoable',
    retry: r.retry,
    undoRetry: {
      ...r.undoRetry,
      nonRetryable: [...(r.undoRetry.nonRetryable ?? []), 'RestoreImpossibleError'],
    },
  });

export const noSideEffects = <P, O>(
  r: Resolved,
  spec: {
    name: string;
    run: (ctx: StepContext<P>) => Promise<O>;
    alternatives?: string[];
  } & JsonRun<P, O>,
): StepDraft<P> => step<P, O>({ ...spec, kind: 'no_side_effects', retry: r.retry });
