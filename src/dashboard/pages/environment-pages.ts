import { environmentsWithResources, groupResources } from '../environments.js';
import { HttpError } from '../http.js';
import { markup, path } from '../html.js';
import { noQuery, param, type Handler } from '../handler.js';
import { layout } from '../layout.js';
import type { Route } from '../router.js';
import { pageRoute, type PageDependencies } from './page.js';
import {
  activityPath,
  deletedBadge,
  deletedNote,
  envCrumbs,
  operationsTable,
  resourceList,
  time,
} from './parts.js';

/** The kinds of resource that have a page of their own, by the path segment naming them. */
const RESOURCE_KINDS = { apps: 'app', databases: 'database' } as const;

/** The environments, an environment, and the page of each app and database. */
export const environmentPages = ({ reads }: PageDependencies): Route<Handler>[] => [
  pageRoute('/', async (ctx) => {
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
  }),

  pageRoute('/environments/:env', async (ctx) => {
    noQuery(ctx);
    const environment = param(ctx, 'env');
    let resources;
    try {
      resources = await reads.resources(environment, { actor: ctx.actor });
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
    const { apps, databases, others } = groupResources(resources);
    const otherItems = others.map(
      (r) =>
        markup`<li data-resource="${r.type}:${r.handle}"><a href="${activityPath(environment, r)}">${r.type}:${r.handle}</a>${deletedBadge(r.deleted)}</li>`,
    );
    return layout(
      {
        title: environment,
        crumbs: envCrumbs(environment),
        section: { environment, current: 'overview' },
      },
      markup`<h1>${environment}</h1>
<nav class="actions">
<a id="activity-link" class="button" href="${activityPath(environment)}">Activity</a>
<a id="reports-link" class="button" href="${path`/environments/${environment}/activity-reports`}">Activity Reports</a>
<a id="metrics-link" class="button" href="${path`/environments/${environment}/metrics`}">Metrics</a>
</nav>
<div class="columns">
<section><h2>Apps</h2>${resourceList(environment, 'apps', apps)}</section>
<section><h2>Databases</h2>${resourceList(environment, 'databases', databases)}</section>
</div>
${others.length > 0 && markup`<section><h2>Other resources</h2><ul class="others">${otherItems}</ul></section>`}`,
    );
  }),

  ...Object.entries(RESOURCE_KINDS).map(([segment, type]) =>
    pageRoute(`/environments/:env/${segment}/:handle`, async (ctx) => {
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
          section: { environment, ...(type === 'app' ? { app: handle } : {}) },
        },
        markup`<h1>${type === 'app' ? 'App' : 'Database'} ${handle}${deletedBadge(resource.status === 'deprovisioned')}</h1>
<dl id="resource">
<dt>Status</dt><dd>${resource.status}</dd>
<dt>Release</dt><dd>${resource.release ?? '–'}</dd>
<dt>Last operation</dt><dd><a href="${path`/operations/${resource.lastOperationId}`}">${resource.lastOperationType}</a> at ${time(resource.lastOperationAt)}</dd>
</dl>
<nav class="actions"><a id="activity-link" class="button" href="${activityPath(environment, { type, handle })}">Activity</a>${type === 'app' && markup` <a id="metrics-link" class="button" href="${path`/environments/${environment}/metrics`}?app=${encodeURIComponent(handle)}">Metrics</a>`}</nav>
<h2>Latest operations</h2>
${operationsTable(recent.items, false)}`,
      );
    }),
  ),
];
