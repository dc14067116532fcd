import { stringify } from 'csv-stringify/sync';
import { neutraliseFormula } from './activity-report.js';
import type { DeliveryMetrics, Percentiles, WeeklyDeliveryMetrics } from './delivery-metrics.js';

/** One line of the metrics table: a metric, what it is about (a type, a step...), its value. */
export interface MetricsRow {
  metric: string;
  /** The operation type, step or error code the value is about; '' for the whole scope. */
  about: string;
  /** A number as text (durations in seconds), '' when there is nothing to measure. */
  value: string;
}

export const METRICS_COLUMNS = ['metric', 'about', 'value'] as const;

const seconds = (ms: number | undefined) => (ms === undefined ? '' : String(ms / 1000));
const number = (n: number | undefined) => (n === undefined ? '' : String(Number(n.toFixed(6))));

const percentileRows = (metric: string, byType: Record<string, Percentiles>): MetricsRow[] =>
  Object.entries(byType).flatMap(([type, p]) => [
    { metric: `${metric}_count`, about: type, value: String(p.count) },
    { metric: `${metric}_p50_seconds`, about: type, value: seconds(p.p50Ms) },
    { metric: `${metric}_p95_seconds`, about: type, value: seconds(p.p95Ms) },
  ]);

/**
 * The metrics as one flat table (what the CLI prints and exports as CSV): durations in seconds,
 * rates as fractions.
 *
 * @example
 * ```ts
 * import { deliveryMetricsRows } from 'opledger/projections';
 *
 * for (const row of deliveryMetricsRows(metrics)) console.log(row.metric, row.about, row.value);
 * ```
 */
export const deliveryMetricsRows = (m: DeliveryMetrics): MetricsRow[] => [
  { metric: 'deploys', about: '', value: String(m.deploymentFrequency.deploys) },
  { metric: 'deploys_per_day', about: '', value: number(m.deploymentFrequency.perDay) },
  { metric: 'deploys_per_week', about: '', value: number(m.deploymentFrequency.perWeek) },
  ...percentileRows('lead_time', m.leadTime),
  ...percentileRows('queue_wait', m.queueWait),
  { metric: 'change_failure_deploys', about: '', value: String(m.changeFailureRate.deploys) },
  { metric: 'change_failures', about: '', value: String(m.changeFailureRate.failed) },
  { metric: 'change_failure_rate', about: '', value: number(m.changeFailureRate.rate) },
  { metric: 'restore_failures', about: '', value: String(m.timeToRestore.failures) },
  { metric: 'restored', about: '', value: String(m.timeToRestore.restored) },
  { metric: 'time_to_restore_p50_seconds', about: '', value: seconds(m.timeToRestore.p50Ms) },
  { metric: 'time_to_restore_mean_seconds', about: '', value: seconds(m.timeToRestore.meanMs) },
  { metric: 'rollbacks_succeeded', about: '', value: String(m.rollbacks.succeeded) },
  { metric: 'rollbacks_failed', about: '', value: String(m.rollbacks.failed) },
  ...m.rollbacks.notUndoneSteps.map((s) => ({
    metric: 'not_undone',
    about: s.name,
    value: String(s.count),
  })),
  ...m.failureCauses.byStep.map((s) => ({
    metric: 'failures_by_step',
    about: s.name,
    value: String(s.count),
  })),
  ...m.failureCauses.byErrorCode.map((s) => ({
    metric: 'failures_by_error_code',
    about: s.name,
    value: String(s.count),
  })),
];

/**
 * The metrics table as RFC 4180 CSV with a header row; cells a spreadsheet would run as a
 * formula (a step named `=cmd()`) are neutralised, as in the Activity Report.
 *
 * @example
 * ```ts
 * import { deliveryMetricsCsv } from 'opledger/projections';
 *
 * await writeFile('metrics.csv', deliveryMetricsCsv(metrics));
 * ```
 */
export const deliveryMetricsCsv = (m: DeliveryMetrics): string =>
  stringify(
    deliveryMetricsRows(m).map((r) => METRICS_COLUMNS.map((c) => neutraliseFormula(r[c]))),
    { header: true, columns: [...METRICS_COLUMNS], record_delimiter: 'windows' },
  );

/** One line of the weekly metrics table: a line of `deliveryMetricsRows` and its ISO week. */
export interface WeeklyMetricsRow extends MetricsRow {
  week: string;
}

export const WEEKLY_METRICS_COLUMNS = ['week', ...METRICS_COLUMNS] as const;

/**
 * The metrics week by week as one flat table (`opledger metrics --weekly`): the rows of each
 * week's `deliveryMetricsRows`, oldest week first, so lead time per type over time (and every
 * other metric) can be charted in a spreadsheet.
 *
 * @example
 * ```ts
 * import { weeklyDeliveryMetricsRows } from 'opledger/projections';
 *
 * for (const row of weeklyDeliveryMetricsRows(await delivery.weekly(query))) {
 *   if (row.metric === 'lead_time_p50_seconds') console.log(row.week, row.about, row.value);
 * }
 * ```
 */
export const weeklyDeliveryMetricsRows = (
  weeks: readonly WeeklyDeliveryMetrics[],
): WeeklyMetricsRow[] =>
  weeks.flatMap(({ week, metrics }) =>
    deliveryMetricsRows(metrics).map((row) => ({ week, ...row })),
  );

/**
 * The weekly metrics table as RFC 4180 CSV with a header row (`week,metric,about,value`),
 * formula-like cells neutralised as in `deliveryMetricsCsv`.
 *
 * @example
 * ```ts
 * import { weeklyDeliveryMetricsCsv } from 'opledger/projections';
 *
 * await writeFile('metrics-weekly.csv', weeklyDeliveryMetricsCsv(await delivery.weekly(query)));
 * ```
 */
export const weeklyDeliveryMetricsCsv = (weeks: readonly WeeklyDeliveryMetrics[]): string =>
  stringify(
    weeklyDeliveryMetricsRows(weeks).map((r) =>
      WEEKLY_METRICS_COLUMNS.map((c) => neutraliseFormula(r[c])),
    ),
    { header: true, columns: [...WEEKLY_METRICS_COLUMNS], record_delimiter: 'windows' },
  );
