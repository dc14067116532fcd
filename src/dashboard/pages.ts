import type { Clock } from '../engine/clock.js';
import { toOperationResult, type OperationView } from '../engine/operation-result.js';
import { renderLogLine, type ReadModel } from '../projections/read-model.js';
import type { ReadStore } from '../projections/read-store.js';
import { environmentsWithResources, type ResourceJson } from './environments.js';
import type { Context, Handler } from './handler.js';
import { HttpError, parseWith, queryOf } from './http.js';
import { markup, path, query, type Html } from './html.js';
import { layout, sendPage, type Crumb } from './layout.js';
import { empty, operationsQuery, STATUSES } from './queries.js';
import type { Route } from './router.js';

export interface PageDependencies {
  reads: ReadModel;
  readStore: ReadStore;
  clock: Pick<Clock, 'now'>;
}

/** Operations per page of the Activity view unless `limit` says otherwise. */
export const ACTIVITY_PAGE_SIZE = 20;

/** The kinds of resource that have a page of their own, by the path segment naming them. */
const RESOURCE_KINDS = { apps: 'app', databases: 'database' } as const;

type ResourceRef = { type: string; handle: string };

const pathOfResource = (environment: string, r: ResourceRef) =>
  r.type === 'app'
    ? path`/environments/${environment}/apps/${r.handle}`
    : r.type === 'database'
      ? path`/environments/${environment}/databases/${r.handle}`
      : undefined;

const activityPath = (environment: string, resource?: ResourceRef) =>
  path`/environments/${environment}/activity` +
  query({ resource: resource ? `${resource.type}:${resource.handle}` : undefined });

/** `2026-11-27 19:58:40Z` in a <time> that keeps the exact instant. */
const time = (iso: string | undefined): Html =>
  iso
    ? markup`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`
    : markup`<span class="none">–</span>`;

const duration = (from: string | undefined, to: string | undefined): string => {
  if (!from || !to) return '–';
  const ms = Date.parse(to) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1_000) return `${ms} ms`;
  const s = Math.round(ms / 100) / 10;
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
};

const ROLLBACK_LABELS: Record<OperationView['rollback'], string> = {
  none: 'none',
  in_progress: 'rolling back',
  succeeded: 'rolled back',
  failed: 'rollback failed',
};

const deletedBadge = (deleted: boolean) =>
  deleted && markup` <span class="badge deleted">deleted</span>`;

const statusBadge = (status: string) =>
  markup`<span class="badge status-${status}">${status}</span>`;

const resourceList = (environment: string, kind: string, resources: ResourceJson[]) => {
  if (resources.length === 0) return markup`<p class="empty">No ${kind}.</p>`;
  const items = resources.map((r) => {
    const href = pathOfResource(environment, r);
    const name = href ? markup`<a href="${href}">${r.handle}</a>` : markup`${r.handle}`;
    const release = r.release && markup` <span class="release">${r.release}</span>`;
    return markup`<li data-resource="${r.type}:${r.handle}">${name}${deletedBadge(r.deleted)}${release}</li>`;
  });
  return markup`<ul class="${kind}">${items}</ul>`;
};

const operationRow = (op: OperationView, showResource: boolean) => markup`
<tr data-operation-id="${op.id}" data-status="${op.status}">
<td class="operation"><a href="${path`/operations/${op.id}`}">${op.type}</a> <code>${op.id}</code></td>
${showResource && markup`<td>${op.resource.type}:${op.resource.handle}</td>`}
<td>${statusBadge(op.status)}${op.cancelled && markup` <span class="badge cancelled">cancelled</span>`}</td>
<td class="rollback-${op.rollback}">${ROLLBACK_LABELS[op.rollback]}</td>
<td>${op.user}</td>
<td>${time(op.createdAt)}</td>
<td>${time(op.finishedAt)}</td>
<td>${duration(op.startedAt ?? op.createdAt, op.finishedAt)}</td>
</tr>`;

const operationsTable = (
  items: OperationView[],
  showResource: boolean,
) => markup`<table id="operations">
<thead><tr><th>Operation</th>${showResource && markup`<th>Resource</th>`}<th>Status</th><th>Rollback</th><th>User</th><th>Created</th><th>Finished</th><th>Duration</th></tr></thead>
<tbody>${items.map((op) => operationRow(op, showResource))}</tbody>
</table>`;

const envCrumbs = (environment: string, ...rest: Crumb[]): Crumb[] => [
  { label: environment, href: path`/environments/${environment}` },
  ...rest,
];

const deletedNote = (at: string | undefined) =>
  markup`<p class="note">Deleted${at && markup` on ${time(at)}`}: its operations, resources and reports are gone.</p>`;

/** Empty form fields (`?status=&type=`) mean "any", not a value to check. */
const filledQuery = (url: URL): Record<string, string> =>
  Object.fromEntries(Object.entries(queryOf(url)).filter(([, v]) => v !== ''));

const noQuery = (ctx: Context) => parseWith(empty, queryOf(ctx.url), 'INVALID_QUERY', 'query');

const param = (ctx: Context, name: string) => ctx.params[name] as string;

/**
 * The dashboard's pages: HTML rendered on the server from the same read model as the API, with
 * the same `authorize` checks. Only the operation page has a script (live log, cancel).
 */
export const pageRoutes = ({ reads, readStore, clock }: PageDependencies): Route<Handler>[] => {
  const routes: Route<Handler>[] = [];
  const page = (pattern: string, run: (ctx: Context) => Promise<Html>) =>
    routes.push({
      method: 'GET',
      pattern,
      handler: { reads: true, run: async (ctx) => sendPage(ctx.res, 200, await run(ctx)) },
    });

  page('/', async (ctx) => {
    noQuery(ctx);
    const environments = await environmentsWithResources(reads, ctx.actor);
    const sections = environments.map(
      (env) => markup`
<section class="environment" data-environment="${env.name}">
<h2><a href="${path`/environments/${env.name}`}">${env.name}</a>${deletedBadge(env.deleted)}</h2>
${
  env.deleted
    ? deletedNote(env.deprovisionedAt)
    : markup`<div class="columns">
<div><h3>Apps</h3>${resourceList(env.name, 'apps', env.apps)}</div>
<div><h3>Databases</h3>${resourceList(env.name, 'databases', env.databases)}</div>
</div>`
}
</section>`,
    );
    return layout(
      { title: 'Environments' },
      markup`<h1>Environments</h1>
${environments.length === 0 && markup`<p class="empty">No environment yet: run an operation (for example <code>opledger demo</code>) to see one here.</p>`}
<div id="environments">${sections}</div>`,
    );
  });

  page('/environments/:env', async (ctx) => {
    noQuery(ctx);
    const environment = param(ctx, 'env');
    let resources: ResourceJson[];
    try {
      resources = (await reads.resources(environment, { actor: ctx.actor })).map((r) => ({
        ...r,
        deleted: r.status === 'deprovisioned',
      }));
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ENVIRONMENT_NOT_FOUND') throw error;
      // A deleted environment keeps its name: say so rather than "not found".
      const deleted = (await reads.environments({ actor: ctx.actor })).find(
        (e) => e.name === environment && e.deleted,
      );
      if (!deleted) throw error;
      return layout(
        { title: environment, crumbs: envCrumbs(environment) },
        markup`<h1>${environment}${deletedBadge(true)}</h1>
${deletedNote(deleted.deprovisionedAt)}`,
      );
    }
    const apps = resources.filter((r) => r.type === 'app');
    const databases = resources.filter((r) => r.type === 'database');
    const others = resources.filter((r) => r.type !== 'app' && r.type !== 'database');
    const otherItems = others.map(
      (r) =>
        markup`<li data-resource="${r.type}:${r.handle}"><a href="${activityPath(environment, r)}">${r.type}:${r.handle}</a>${deletedBadge(r.deleted)}</li>`,
    );
    return layout(
      { title: environment, crumbs: envCrumbs(environment) },
      markup`<h1>${environment}</h1>
<nav class="actions">
<a id="activity-link" class="button" href="${activityPath(environment)}">Activity</a>
<a id="reports-link" class="button" href="${path`/environments/${environment}/activity-reports`}">Activity Reports</a>
</nav>
<div class="columns">
<section><h2>Apps</h2>${resourceList(environment, 'apps', apps)}</section>
<section><h2>Databases</h2>${resourceList(environment, 'databases', databases)}</section>
</div>
${others.length > 0 && markup`<section><h2>Other resources</h2><ul class="others">${otherItems}</ul></section>`}`,
    );
  });

  for (const [segment, type] of Object.entries(RESOURCE_KINDS)) {
    page(`/environments/:env/${segment}/:handle`, async (ctx) => {
      noQuery(ctx);
      const environment = param(ctx, 'env');
      const handle = param(ctx, 'handle');
      const resource = (await reads.resources(environment, { actor: ctx.actor })).find(
        (r) => r.type === type && r.handle === handle,
      );
      if (!resource) {
        throw new HttpError(
          404,
          'RESOURCE_NOT_FOUND',
          `Environment '${environment}' has no ${type} '${handle}'.`,
        );
      }
      const recent = await reads.listOperations({
        environment,
        resource: { type, handle },
        limit: 5,
        actor: ctx.actor,
      });
      return layout(
        {
          title: `${type} ${handle} in ${environment}`,
          crumbs: envCrumbs(environment, { label: `${type} ${handle}` }),
        },
        markup`<h1>${type === 'app' ? 'App' : 'Database'} ${handle}${deletedBadge(resource.status === 'deprovisioned')}</h1>
<dl id="resource">
<dt>Status</dt><dd>${resource.status}</dd>
<dt>Release</dt><dd>${resource.release ?? '–'}</dd>
<dt>Last operation</dt><dd><a href="${path`/operations/${resource.lastOperationId}`}">${resource.lastOperationType}</a> at ${time(resource.lastOperationAt)}</dd>
</dl>
<nav class="actions"><a id="activity-link" class="button" href="${activityPath(environment, { type, handle })}">Activity</a></nav>
<h2>Latest operations</h2>
${operationsTable(recent.items, false)}`,
      );
    });
  }

  page('/environments/:env/activity', async (ctx) => {
    const environment = param(ctx, 'env');
    const raw = filledQuery(ctx.url);
    const q = parseWith(operationsQuery, raw, 'INVALID_QUERY', 'query');
    const limit = q.limit ?? ACTIVITY_PAGE_SIZE;
    const result = await reads.listOperations({
      environment,
      actor: ctx.actor,
      limit,
      ...(q.offset !== undefined ? { offset: q.offset } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.type ? { type: q.type } : {}),
      ...(q.resource ? { resource: q.resource } : {}),
      ...(q.from ? { from: q.from } : {}),
      ...(q.to ? { to: q.to } : {}),
    });
    const base = path`/environments/${environment}/activity`;
    const at = (offset: number) => base + query({ ...raw, offset: offset || undefined });
    const cleared = base + query({ resource: raw.resource, limit: raw.limit });
    const first = result.items.length ? result.offset + 1 : 0;
    const last = result.offset + result.items.length;
    const of = q.resource ? `${q.resource.type}:${q.resource.handle}` : undefined;
    const statusOptions = STATUSES.map(
      (s) => markup`<option value="${s}"${q.status === s && markup` selected`}>${s}</option>`,
    );
    return layout(
      {
        title: `Activity of ${of ?? environment}`,
        crumbs: envCrumbs(environment, { label: 'Activity' }),
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
${result.items.length === 0 ? markup`<p class="empty">No operations match.</p>` : operationsTable(result.items, !q.resource)}
<p id="page-info">${result.items.length ? `Operations ${first}–${last} of ${result.total}, newest first` : `${result.total} operations`}</p>
<nav class="paging">
${result.offset > 0 && markup`<a rel="prev" href="${at(Math.max(0, result.offset - limit))}">← Newer</a>`}
${result.nextOffset !== undefined && markup`<a rel="next" href="${at(result.nextOffset)}">Older →</a>`}
</nav>`,
    );
  });

  page('/operations/:id', async (ctx) => {
    noQuery(ctx);
    const id = param(ctx, 'id');
    const [op, lines] = await Promise.all([
      reads.operation(id, { actor: ctx.actor }),
      reads.logs(id, { actor: ctx.actor }),
    ]);
    const ended = op.status === 'succeeded' || op.status === 'failed';
    // The one sentence the engine's result gives, as `opledger run` and the live page end with.
    const record = ended ? await readStore.operation(id) : undefined;
    const verdict = record ? toOperationResult(record.state).summary : '';
    const resourcePath = pathOfResource(op.environment, op.resource);
    const resourceLabel = `${op.resource.type}:${op.resource.handle}`;
    const log = lines.map(
      (line) =>
        markup`<span class="line level-${line.level}" data-revision="${line.revision}">${renderLogLine(line)}\n</span>`,
    );
    const cancelForm = markup`<form id="cancel-form">
<label>Cancel as <input id="cancel-user" name="user" type="email" required placeholder="you@example.com" autocomplete="email"></label>
<button id="cancel" type="submit" class="danger">Cancel operation</button>
</form>
<p id="cancel-status" role="status"></p>`;
    return layout(
      {
        title: `${op.type} ${op.id}`,
        crumbs: envCrumbs(
          op.environment,
          { label: 'Activity', href: activityPath(op.environment) },
          { label: op.id },
        ),
        data: {
          'operation-id': op.id,
          'operation-type': op.type,
          // The script follows the live log of an operation that has not ended.
          live: ended ? 'off' : 'pending',
        },
      },
      markup`<h1>${op.type} <small>on ${resourcePath ? markup`<a href="${resourcePath}">${resourceLabel}</a>` : resourceLabel}</small></h1>
<dl id="operation">
<dt>Id</dt><dd><code>${op.id}</code></dd>
<dt>Status</dt><dd id="status" data-status="${op.status}">${op.status}</dd>
<dt>Rollback</dt><dd id="rollback" data-rollback="${op.rollback}">${ROLLBACK_LABELS[op.rollback]}</dd>
<dt>User</dt><dd>${op.user}</dd>
<dt>Created</dt><dd>${time(op.createdAt)}</dd>
<dt>Started</dt><dd>${time(op.startedAt)}</dd>
<dt>Finished</dt><dd id="finished">${time(op.finishedAt)}</dd>
</dl>
<p id="verdict" class="verdict${op.rollback === 'failed' ? ' bad' : ''}" aria-live="polite">${verdict}</p>
${!ended && cancelForm}
<h2>Operation Log <a id="download-log" class="button" href="${path`/api/operations/${op.id}/log.txt`}" download>Download log</a></h2>
<p id="live-state" role="status"></p>
<pre id="log">${log}</pre>`,
    );
  });

  page('/environments/:env/activity-reports', async (ctx) => {
    noQuery(ctx);
    const environment = param(ctx, 'env');
    const now = clock.now().toISOString();
    const reports = await reads.activityReports(environment, { actor: ctx.actor });
    const rows = reports.map(
      (r) => markup`
<tr data-week="${r.week}">
<td>${r.week}</td>
<td>${r.to <= now ? time(r.to) : markup`<span class="badge status-running">in progress</span>`}</td>
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

  return routes;
};
