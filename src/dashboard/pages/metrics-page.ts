import { isoWeekOf, isoWeekRange } from '../../projections/iso-week.js';
import type { DeliveryMetricsService } from '../../projections/delivery-metrics.js';
import { HttpError, queryOf } from '../http.js';
import { markup, path, query } from '../html.js';
import { param, type Handler } from '../handler.js';
import { layout } from '../layout.js';
import type { Route } from '../router.js';
import { barChart, lineChart, type LineSeries } from '../svg-charts.js';
import { pageRoute, type PageDependencies } from './page.js';
import { envCrumbs } from './parts.js';

const WEEKS = 12;
const MINUTE = 60_000;
/** A colour per operation type, in turn (p50 solid, p95 dashed in the same colour). */
const PALETTE = [
  '#1565c0',
  '#2e7d32',
  '#c62828',
  '#6a1b9a',
  '#ef6c00',
  '#00838f',
  '#5d4037',
  '#ad1457',
];
const minutes = (ms: number) => `${Math.round((ms / MINUTE) * 10) / 10} min`;

/**
 * An environment's (or, with `?app=HANDLE`, an app's) delivery metrics over the last 12 ISO
 * weeks, charted as SVG on the server, each chart with its numbers in a table.
 */
export const metricsPage = (
  { clock }: PageDependencies,
  delivery: DeliveryMetricsService,
): Route<Handler> =>
  pageRoute('/environments/:env/metrics', async (ctx) => {
    const asked = queryOf(ctx.url);
    for (const key of Object.keys(asked)) {
      if (key !== 'app') {
        throw new HttpError(400, 'INVALID_QUERY', `Unknown query parameter '${key}'; use app.`);
      }
    }
    const environment = param(ctx, 'env');
    const app = asked.app || undefined;
    await delivery.projection.catchUp().catch((error: unknown) => {
      // A read-only store is read as it is.
      if ((error as { code?: string }).code !== 'STORE_READ_ONLY') throw error;
    });
    const thisWeek = isoWeekOf(clock.now());
    const to = isoWeekRange(thisWeek).to;
    const from = new Date(Date.parse(to) - WEEKS * 7 * 86_400_000).toISOString();
    const range = { environment, ...(app ? { app } : {}), from, to, actor: ctx.actor };
    const [total, weekly] = await Promise.all([delivery.metrics(range), delivery.weekly(range)]);
    const weeks = weekly.map((w) => w.week.slice(5));
    const types = Object.keys(total.leadTime);
    const charts = [
      barChart({
        id: 'deploys-per-week',
        title: 'Deploys per week, by outcome',
        xLabel: 'ISO week',
        yLabel: 'deploys',
        categories: weeks,
        stacked: true,
        series: [
          {
            name: 'succeeded',
            color: '#2e7d32',
            values: weekly.map((w) => w.metrics.deploymentFrequency.deploys),
          },
          {
            name: 'failed',
            color: '#c62828',
            values: weekly.map((w) => w.metrics.changeFailureRate.failed),
          },
        ],
      }),
      barChart({
        id: 'lead-time',
        title: 'Lead time per operation type (requested to finished)',
        xLabel: 'operation type',
        yLabel: 'minutes',
        categories: types,
        stacked: false,
        format: (v) => String(Math.round(v * 10) / 10),
        series: [
          {
            name: 'p50',
            color: '#1565c0',
            values: types.map((t) => (total.leadTime[t]?.p50Ms ?? 0) / MINUTE),
          },
          {
            name: 'p95',
            color: '#90caf9',
            values: types.map((t) => (total.leadTime[t]?.p95Ms ?? 0) / MINUTE),
          },
        ],
      }),
      lineChart({
        id: 'lead-time-per-week',
        title: 'Lead time per operation type, week by week (p50 and p95)',
        xLabel: 'ISO week',
        yLabel: 'minutes',
        categories: weeks,
        format: (v) => String(Math.round(v * 10) / 10),
        series: types.flatMap((type, k): LineSeries[] => {
          const color = PALETTE[k % PALETTE.length]!;
          const of = (p: 'p50Ms' | 'p95Ms') =>
            weekly.map((w) => {
              const ms = w.metrics.leadTime[type]?.[p];
              return ms === undefined ? undefined : ms / MINUTE;
            });
          return [
            { name: `${type} p50`, color, values: of('p50Ms') },
            { name: `${type} p95`, color, dashed: true, values: of('p95Ms') },
          ];
        }),
      }),
      // Lines with gaps: a week without deploys has no rate, and one without a restore no
      // time to restore, which a bar of 0 would misread as perfect.
      lineChart({
        id: 'change-failure-rate',
        title: 'Change failure rate per week',
        xLabel: 'ISO week',
        yLabel: 'percent of deploys',
        categories: weeks,
        format: (v) => `${Math.round(v)}%`,
        series: [
          {
            name: 'change failure rate',
            color: '#ef6c00',
            values: weekly.map((w) => {
              const rate = w.metrics.changeFailureRate.rate;
              return rate === undefined ? undefined : rate * 100;
            }),
          },
        ],
      }),
      lineChart({
        id: 'time-to-restore',
        title: 'Time to restore per week (median)',
        xLabel: 'ISO week',
        yLabel: 'minutes',
        categories: weeks,
        format: (v) => String(Math.round(v * 10) / 10),
        series: [
          {
            name: 'time to restore (p50)',
            color: '#6a1b9a',
            values: weekly.map((w) => {
              const ms = w.metrics.timeToRestore.p50Ms;
              return ms === undefined ? undefined : ms / MINUTE;
            }),
          },
        ],
      }),
    ];
    const cfr = total.changeFailureRate.rate;
    return layout(
      {
        title: `Delivery metrics of ${environment}${app ? ` (${app})` : ''}`,
        crumbs: envCrumbs(environment, { label: 'Metrics' }),
        section: app
          ? { environment, app, current: 'app-metrics' }
          : { environment, current: 'metrics' },
      },
      markup`<h1>Delivery metrics${app ? markup` of <code>${app}</code>` : ''}</h1>
<p>The last ${WEEKS} ISO weeks (UTC), from ${from.slice(0, 10)} to ${to.slice(0, 10)} (exclusive); each metric is defined in opledger's docs/metrics.md.</p>
<dl id="metrics-summary">
<dt>Deploys per week</dt><dd>${Math.round(total.deploymentFrequency.perWeek * 100) / 100}</dd>
<dt>Change failure rate</dt><dd>${cfr === undefined ? 'no deploys' : `${Math.round(cfr * 1000) / 10}%`}</dd>
<dt>Time to restore (median)</dt><dd>${total.timeToRestore.p50Ms === undefined ? 'nothing to restore' : minutes(total.timeToRestore.p50Ms)}</dd>
<dt>Rollbacks</dt><dd>${total.rollbacks.succeeded} succeeded, ${total.rollbacks.failed} failed</dd>
</dl>
<p><a id="metrics-csv" class="csv" href="${path`/api/environments/${environment}/metrics.csv`}${query({ from, to, app })}" download>Download the metrics table (CSV)</a></p>
${charts}`,
    );
  });
