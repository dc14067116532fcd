import { withPosted } from '../activity-reports.js';
import { markup, path } from '../html.js';
import { noQuery, param, type Handler } from '../handler.js';
import { layout } from '../layout.js';
import type { Route } from '../router.js';
import { pageRoute, type PageDependencies } from './page.js';
import { envCrumbs, time } from './parts.js';

/** An environment's weekly Activity Reports, each a CSV, and a form for a custom range. */
export const reportsPage = ({ reads, clock }: PageDependencies): Route<Handler> =>
  pageRoute('/environments/:env/activity-reports', async (ctx) => {
    noQuery(ctx);
    const environment = param(ctx, 'env');
    const reports = withPosted(
      await reads.activityReports(environment, { actor: ctx.actor }),
      clock.now(),
    );
    const rows = reports.map(
      (r) => markup`
<tr data-week="${r.week}">
<td>${r.week}</td>
<td>${r.posted ? time(r.posted) : markup`<span class="badge status-running">in progress</span>`}</td>
<td>${time(r.from)}</td>
<td>${time(r.to)}</td>
<td>${r.operations}</td>
<td><a class="csv" href="${path`/api/environments/${environment}/activity-reports/${r.week}.csv`}" download>CSV</a></td>
</tr>`,
    );
    const table = markup`<table id="reports">
<thead><tr><th>Week</th><th>Posted</th><th>From</th><th>To</th><th>Operations</th><th>CSV</th></tr></thead>
<tbody>${rows}</tbody>
</table>`;
    return layout(
      {
        title: `Activity Reports of ${environment}`,
        crumbs: envCrumbs(environment, { label: 'Activity Reports' }),
        section: { environment, current: 'reports' },
      },
      markup`<h1>Activity Reports</h1>
<p>One report per ISO week (UTC, Monday to Monday); a week's report is posted once the week is over.</p>
${reports.length === 0 ? markup`<p class="empty">No operations yet, so no reports.</p>` : table}
<h2>Custom range</h2>
<form id="custom-range" method="get" action="${path`/api/environments/${environment}/activity-report.csv`}">
<label>From <input name="from" type="date" required></label>
<label>To (exclusive) <input name="to" type="date" required></label>
<button type="submit">Download CSV</button>
</form>`,
    );
  });
