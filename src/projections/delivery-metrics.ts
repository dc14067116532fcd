import { allowAll, ensureAllowed, type Authorize } from '../domain/authorization.js';
import type { FailureReason, ResourceRef } from '../domain/events.js';
import { createProjection, defineProjection, type UserProjection } from './define-projection.js';
import type { ProjectorOptions } from './projector.js';
import { isoWeekRange, isoWeeksBetween } from './iso-week.js';
import { resolveRange } from './read-model.js';

/** What the delivery metrics keep of one operation: its times and how it ended. */
export interface OperationSummary {
  id: string;
  type: string;
  /** ISO 8601 UTC. */
  requestedAt: string;
  startedAt?: string;
  finishedAt?: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  /** Why it failed: a step failed, it was cancelled, or a crash left it to be rolled back. */
  failureReason?: FailureReason;
  failedStep?: string;
  /** The error's `code`, when it had one. */
  errorCode?: string;
  rollback?: { outcome: 'succeeded' | 'failed'; at: string; notUndone: string[] };
}

/** One document of the delivery projection: every operation of one resource, by id. */
export interface ResourceHistory {
  environment: string;
  resource: ResourceRef;
  operations: Record<string, OperationSummary>;
}

export const DELIVERY_PROJECTION = 'delivery';

/**
 * The projection the delivery metrics are computed from, built with `defineProjection`: one
 * document per resource (`environment`, resource type and handle), holding a summary of each
 * of its operations. Nothing is removed when a resource or environment is deleted, so its
 * history stays in the metrics.
 *
 * @example
 * ```ts
 * import { createProjection, deliveryProjection } from 'opledger/projections';
 *
 * const history = createProjection(deliveryProjection, { store, readStore });
 * await history.catchUp();
 * ```
 */
export const deliveryProjection = defineProjection<ResourceHistory>({
  name: DELIVERY_PROJECTION,
  version: 1,
  keyOf: (_event, { operation }) =>
    operation &&
    JSON.stringify([operation.environment, operation.resource.type, operation.resource.handle]),
  initialState: (key) => {
    const [environment, type, handle] = JSON.parse(key) as [string, string, string];
    return { environment, resource: { type, handle }, operations: {} };
  },
  environmentOf: (key) => (JSON.parse(key) as string[])[0],
  on: {
    OperationRequested(draft, event, { operation }) {
      draft.operations[operation!.id] ??= {
        id: operation!.id,
        type: event.data.type,
        requestedAt: event.data.createdAt,
        status: 'queued',
      };
    },
    OperationStarted(draft, event, { operation }) {
      const op = draft.operations[operation!.id];
      if (!op || op.startedAt !== undefined) return;
      op.startedAt = event.data.at;
      op.status = 'running';
    },
    OperationSucceeded(draft, event, { operation }) {
      const op = draft.operations[operation!.id];
      if (!op) return;
      op.status = 'succeeded';
      op.finishedAt = event.data.at;
    },
    OperationFailed(draft, event, { operation }) {
      const op = draft.operations[operation!.id];
      if (!op) return;
      op.status = 'failed';
      op.finishedAt = event.data.at;
      op.failureReason = event.data.reason;
      if (event.data.failedStep !== undefined) op.failedStep = event.data.failedStep;
      if (event.data.error.code !== undefined) op.errorCode = event.data.error.code;
    },
    RollbackFinished(draft, event, { operation }) {
      const op = draft.operations[operation!.id];
      if (!op) return;
      op.rollback = {
        outcome: event.data.outcome,
        at: event.data.at,
        notUndone: event.data.notUndone.map((n) => n.step),
      };
    },
  },
});

export interface Percentiles {
  count: number;
  /** Nearest-rank percentiles, in milliseconds; absent when `count` is 0. */
  p50Ms?: number;
  p95Ms?: number;
}

export interface Counted {
  name: string;
  count: number;
}

/** The metrics of one environment (or one app of it) over a range; see docs/metrics.md. */
export interface DeliveryMetrics {
  environment: string;
  app?: string;
  from: string;
  to: string;
  deploymentFrequency: { deploys: number; days: number; perDay: number; perWeek: number };
  /** Requested to finished, per operation type. */
  leadTime: Record<string, Percentiles>;
  /** Requested to started, per operation type. */
  queueWait: Record<string, Percentiles>;
  changeFailureRate: { deploys: number; failed: number; rate?: number };
  timeToRestore: { failures: number; restored: number; p50Ms?: number; meanMs?: number };
  rollbacks: { succeeded: number; failed: number; notUndoneSteps: Counted[] };
  failureCauses: { byStep: Counted[]; byErrorCode: Counted[] };
}

export interface MetricsQuery {
  environment: string;
  /** An app's handle: only the operations of that app (resource type `app`). */
  app?: string;
  /** A date (YYYY-MM-DD, midnight UTC) or an ISO 8601 UTC instant; the range is [from, to). */
  from: string;
  to: string;
}

const DAY = 86_400_000;
/** The operation types counted as deploys unless told otherwise. */
export const DEFAULT_DEPLOY_TYPES: readonly string[] = ['app.deploy', 'deploy'];

/** Finishing order: by finishedAt, then id (ids sort by creation). */
const finishOrder = (a: OperationSummary, b: OperationSummary) =>
  a.finishedAt! < b.finishedAt!
    ? -1
    : a.finishedAt! > b.finishedAt!
      ? 1
      : a.id < b.id
        ? -1
        : a.id > b.id
          ? 1
          : 0;

const percentiles = (values: number[]): Percentiles => {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
  return sorted.length === 0
    ? { count: 0 }
    : { count: sorted.length, p50Ms: rank(50), p95Ms: rank(95) };
};

const counted = (names: string[]): Counted[] => {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts]
    .map(([name, count]) => ({ name, count }))
    .sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
};

const byType = (ops: OperationSummary[], ms: (op: OperationSummary) => number | undefined) => {
  const values = new Map<string, number[]>();
  for (const op of ops) {
    const value = ms(op);
    if (value === undefined) continue;
    values.set(op.type, [...(values.get(op.type) ?? []), value]);
  }
  return Object.fromEntries(
    [...values].sort(([a], [b]) => (a < b ? -1 : 1)).map(([t, v]) => [t, percentiles(v)]),
  );
};

/**
 * The delivery metrics of some resource histories over [from, to): pure, from the documents of
 * `deliveryProjection`. Each metric is defined in docs/metrics.md.
 *
 * @example
 * ```ts
 * import { computeDeliveryMetrics } from 'opledger/projections';
 *
 * const metrics = computeDeliveryMetrics(histories, {
 *   environment: 'production',
 *   from: '2026-03-01',
 *   to: '2026-04-01',
 * });
 * console.log(metrics.changeFailureRate.rate);
 * ```
 */
export const computeDeliveryMetrics = (
  histories: readonly ResourceHistory[],
  query: MetricsQuery,
  deployTypes: readonly string[] = DEFAULT_DEPLOY_TYPES,
): DeliveryMetrics => {
  const { from, to } = resolveRange({ from: query.from, to: query.to });
  const inRange = (at: string | undefined) => at !== undefined && at >= from && at < to;
  const mine = histories.filter(
    (h) =>
      h.environment === query.environment &&
      (query.app === undefined || (h.resource.type === 'app' && h.resource.handle === query.app)),
  );
  const all = mine.flatMap((h) => Object.values(h.operations));
  const finished = all.filter((op) => inRange(op.finishedAt));
  const isDeploy = (op: OperationSummary) => deployTypes.includes(op.type);
  const isChangeFailure = (op: OperationSummary) =>
    op.status === 'failed' && op.failureReason !== 'cancellation';
  const deploys = finished.filter(
    (op) => isDeploy(op) && (op.status === 'succeeded' || isChangeFailure(op)),
  );
  const succeeded = deploys.filter((op) => op.status === 'succeeded').length;
  const days = (Date.parse(to) - Date.parse(from)) / DAY;
  const failedDeploys = deploys.filter(isChangeFailure);

  // Time to restore: each failed deploy in range, to the next successful deploy of its app.
  const restores: number[] = [];
  for (const h of mine) {
    const appDeploys = Object.values(h.operations)
      .filter((op) => isDeploy(op) && op.finishedAt !== undefined)
      .sort(finishOrder);
    appDeploys.forEach((op, i) => {
      if (!isChangeFailure(op) || !inRange(op.finishedAt)) return;
      const next = appDeploys.slice(i + 1).find((later) => later.status === 'succeeded');
      if (next) restores.push(Date.parse(next.finishedAt!) - Date.parse(op.finishedAt!));
    });
  }
  const restoreTimes = percentiles(restores);
  const rolledBack = all.filter((op) => op.rollback && inRange(op.rollback.at));
  const failures = finished.filter(isChangeFailure);

  return {
    environment: query.environment,
    ...(query.app !== undefined ? { app: query.app } : {}),
    from,
    to,
    deploymentFrequency: {
      deploys: succeeded,
      days,
      perDay: succeeded / days,
      perWeek: (succeeded / days) * 7,
    },
    leadTime: byType(finished, (op) => Date.parse(op.finishedAt!) - Date.parse(op.requestedAt)),
    queueWait: byType(finished, (op) =>
      op.startedAt === undefined
        ? undefined
        : Date.parse(op.startedAt) - Date.parse(op.requestedAt),
    ),
    changeFailureRate: {
      deploys: deploys.length,
      failed: failedDeploys.length,
      ...(deploys.length > 0 ? { rate: failedDeploys.length / deploys.length } : {}),
    },
    timeToRestore: {
      failures: failedDeploys.length,
      restored: restores.length,
      ...(restoreTimes.p50Ms !== undefined ? { p50Ms: restoreTimes.p50Ms } : {}),
      ...(restores.length > 0
        ? { meanMs: restores.reduce((a, b) => a + b, 0) / restores.length }
        : {}),
    },
    rollbacks: {
      succeeded: rolledBack.filter((op) => op.rollback!.outcome === 'succeeded').length,
      failed: rolledBack.filter((op) => op.rollback!.outcome === 'failed').length,
      notUndoneSteps: counted(rolledBack.flatMap((op) => op.rollback!.notUndone)),
    },
    failureCauses: {
      byStep: counted(failures.map((op) => op.failedStep ?? '(none)')),
      byErrorCode: counted(failures.map((op) => op.errorCode ?? '(none)')),
    },
  };
};

export interface DeliveryMetricsOptions extends ProjectorOptions {
  /** Asked `projection:read` for the environment, then for each resource's history. */
  authorize?: Authorize;
  /** Operation types that count as deploys; `app.deploy` and `deploy` by default. */
  deployTypes?: readonly string[];
}

export interface DeliveryMetricsService {
  /** The projection behind the metrics: `start()` it (or `catchUp()`) before asking. */
  projection: UserProjection<ResourceHistory>;
  metrics(query: MetricsQuery & { actor?: unknown }): Promise<DeliveryMetrics>;
  /** The same, week by week (ISO weeks), for charts. */
  weekly(query: MetricsQuery & { actor?: unknown }): Promise<WeeklyDeliveryMetrics[]>;
}

/**
 * The delivery metrics (the four DORA keys and more) per environment and per app, for any
 * range, from the events alone, through the `delivery` projection.
 *
 * @example
 * ```ts
 * import { createDeliveryMetrics } from 'opledger/projections';
 *
 * const delivery = createDeliveryMetrics({ store, readStore });
 * await delivery.projection.catchUp();
 * const march = await delivery.metrics({ environment: 'production', from: '2026-03-01', to: '2026-04-01' });
 * console.log(march.deploymentFrequency.perWeek, march.changeFailureRate.rate);
 * ```
 */
export const createDeliveryMetrics = (options: DeliveryMetricsOptions): DeliveryMetricsService => {
  const authorize = options.authorize ?? allowAll;
  const projection = createProjection(deliveryProjection, { ...options, authorize });
  const histories = async ({ actor, ...query }: MetricsQuery & { actor?: unknown }) => {
    await ensureAllowed(authorize, actor, 'projection:read', {
      environment: query.environment,
      projection: { name: DELIVERY_PROJECTION, key: query.environment },
    });
    resolveRange(query);
    // Keys are JSON arrays that start with the environment: its documents are one key range.
    const prefix = `${JSON.stringify([query.environment]).slice(0, -1)},`;
    const docs: ResourceHistory[] = [];
    let after = prefix;
    for (;;) {
      const page = await projection.list({ actor, limit: 500, after });
      const mine = page.items.filter((d) => d.key.startsWith(prefix));
      docs.push(...mine.map((d) => d.state));
      if (!page.nextAfter?.startsWith(prefix)) break;
      after = page.nextAfter;
    }
    return { histories: docs, query };
  };
  return {
    projection,
    async metrics(query) {
      const found = await histories(query);
      return computeDeliveryMetrics(found.histories, found.query, options.deployTypes);
    },
    async weekly(query) {
      const found = await histories(query);
      return weeklyDeliveryMetrics(found.histories, found.query, options.deployTypes);
    },
  };
};

/** The metrics of one ISO week. */
export interface WeeklyDeliveryMetrics {
  week: string;
  metrics: DeliveryMetrics;
}

/**
 * The metrics week by week (ISO weeks, UTC) for the weeks from `from`'s to `to`'s: the series
 * the dashboard's charts draw.
 *
 * @example
 * ```ts
 * import { weeklyDeliveryMetrics } from 'opledger/projections';
 *
 * for (const { week, metrics } of weeklyDeliveryMetrics(histories, { environment: 'production', from: '2026-03-02', to: '2026-03-30' })) {
 *   console.log(week, metrics.deploymentFrequency.deploys);
 * }
 * ```
 */
export const weeklyDeliveryMetrics = (
  histories: readonly ResourceHistory[],
  query: MetricsQuery,
  deployTypes: readonly string[] = DEFAULT_DEPLOY_TYPES,
): WeeklyDeliveryMetrics[] => {
  const { from, to } = resolveRange({ from: query.from, to: query.to });
  const last = new Date(Date.parse(to) - 1).toISOString();
  return isoWeeksBetween(from, last).map((week) => ({
    week,
    metrics: computeDeliveryMetrics(histories, { ...query, ...isoWeekRange(week) }, deployTypes),
  }));
};
