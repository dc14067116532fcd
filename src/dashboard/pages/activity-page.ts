import { parseWith, queryOf } from '../http.js';
import { markup, path, query } from '../html.js';
import { param, type Handler } from '../handler.js';
import { layout } from '../layout.js';
import { listOptions, operationsQuery, STATUSES } from '../queries.js';
import type { Route } from '../router.js';
import { pageRoute, type PageDependencies } from './page.js';
import { envCrumbs, operationsTable, plural } from './parts.js';

/** Operations per page of the Activity view unless `limit` says otherwise. */
export const ACTIVITY_PAGE_SIZE = 20;

// The page's form has no time range: `from`/`to` would be dropped by its next submit.
const activityQuery = operationsQuery.omit({ from: true, to: true });

/** Empty form fields (`?status=&type=`) mean "any", not a value to check. */
const filledQuery = (url: URL): Record<string, string> =>
  Object.fromEntries(
    Object.entries(queryOf(url))
      .map(([k, v]) => [k, v.trim()] as const)
      .filter(([, v]) => v !== ''),
  );

/** An environment's (or one resource's) operations, newest first, filtered and paged. */
export const activityPage = ({ reads }: PageDependencies): Route<Handler> =>
  pageRoute('/environments/:env/activity', async (ctx) => {
    const environment = param(ctx, 'env');
    const raw = filledQuery(ctx.url);
    const q = parseWith(activityQuery, raw, 'INVALID_QUERY', 'query');
    const limit = q.limit ?? ACTIVITY_PAGE_SIZE;
    const result = await reads.listOperations({
      environment,
      actor: ctx.actor,
      ...listOptions({ ...q, limit }),
    });
    const base = path`/environments/${environment}/activity`;
    const at = (offset: number) => base + query({ ...raw, offset: offset || undefined });
    const cleared = base + query({ resource: raw.resource, limit: raw.limit });
    const { offset, total, items } = result;
    const lastPage = total > 0 ? Math.floor((total - 1) / limit) * limit : 0;
    const pastTheEnd = items.length === 0 && offset > 0 && total > 0;
    const of = q.resource ? `${q.resource.type}:${q.resource.handle}` : undefined;
    const statusOptions = STATUSES.map(
      (s) => markup`<option value="${s}"${q.status === s && markup` selected`}>${s}</option>`,
    );
    const info = items.length
      ? `Operations ${offset + 1}–${offset + items.length} of ${total}, newest first`
      : pastTheEnd
        ? `Past the last page: ${plural(total, 'operation')} in all.`
        : plural(total, 'operation');
    return layout(
      {
        title: `Activity of ${of ?? environment}`,
        crumbs: envCrumbs(environment, { label: 'Activity' }),
        section: { environment, current: 'activity' },
      },
      markup`<h1>Activity${of && markup` of <code>${of}</code>`}</h1>
<form id="filters" method="get" action="${base}">
<label>Status <select name="status"><option value="">any</option>${statusOptions}</select></label>
<label>Type <input name="type" value="${q.type ?? ''}" placeholder="e.g. app.deploy"></label>
${raw.resource !== undefined && markup`<input type="hidden" name="resource" value="${raw.resource}">`}
${raw.limit !== undefined && markup`<input type="hidden" name="limit" value="${raw.limit}">`}
<button type="submit">Filter</button>
${(q.status || q.type) && markup`<a id="clear-filters" href="${cleared}">clear</a>`}
</form>
${items.length === 0 ? markup`<p class="empty">No operations match.</p>` : operationsTable(items, !q.resource)}
<p id="page-info">${info}</p>
<nav class="paging">
${pastTheEnd && markup`<a rel="prev" href="${at(lastPage)}">← Last page</a>`}
${!pastTheEnd && offset > 0 && markup`<a rel="prev" href="${at(Math.max(0, offset - limit))}">← Newer</a>`}
${result.nextOffset !== undefined && markup`<a rel="next" href="${at(result.nextOffset)}">Older →</a>`}
</nav>`,
    );
  });
