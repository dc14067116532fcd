import type { OperationView } from '../../engine/operation-result.js';
import type { ResourceJson } from '../environments.js';
import { markup, path, query, type Html } from '../html.js';
import type { Crumb } from '../layout.js';

/** What the pages show of an operation's rollback (the script shows the same on `end`). */
export const ROLLBACK_LABELS: Record<OperationView['rollback'], string> = {
  none: 'none',
  in_progress: 'rolling back',
  succeeded: 'rolled back',
  failed: 'rollback failed',
};

type ResourceRef = { type: string; handle: string };

/** The page of an app or a database; other kinds of resource have none. */
export const pathOfResource = (environment: string, r: ResourceRef): string | undefined =>
  r.type === 'app'
    ? path`/environments/${environment}/apps/${r.handle}`
    : r.type === 'database'
      ? path`/environments/${environment}/databases/${r.handle}`
      : undefined;

export const activityPath = (environment: string, resource?: ResourceRef): string =>
  path`/environments/${environment}/activity` +
  query({ resource: resource ? `${resource.type}:${resource.handle}` : undefined });

/** `2026-11-27 19:58:40Z` in a <time> that keeps the exact instant. */
export const time = (iso: string | undefined): Html =>
  iso
    ? markup`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`
    : markup`<span class="none">–</span>`;

export const duration = (from: string | undefined, to: string | undefined): string => {
  if (!from || !to) return '–';
  const ms = Date.parse(to) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1_000) return `${ms} ms`;
  const s = Math.round(ms / 100) / 10;
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
};

export const deletedBadge = (deleted: boolean) =>
  deleted && markup` <span class="badge deleted">deleted</span>`;

export const statusBadge = (status: string) =>
  markup`<span class="badge status-${status}">${status}</span>`;

export const deletedNote = (at: string | undefined) =>
  markup`<p class="note">Deleted${at && markup` on ${time(at)}`}: its operations, resources and reports are gone.</p>`;

export const resourceList = (environment: string, kind: string, resources: ResourceJson[]) => {
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
<td><a class="download-log" href="${path`/api/operations/${op.id}/log.txt`}" download title="Download its log" aria-label="Download the log of ${op.type} ${op.id}">↓</a></td>
</tr>`;

export const operationsTable = (
  items: OperationView[],
  showResource: boolean,
) => markup`<table id="operations">
<thead><tr><th>Operation</th>${showResource && markup`<th>Resource</th>`}<th>Status</th><th>Rollback</th><th>User</th><th>Created</th><th>Finished</th><th>Duration</th><th>Log</th></tr></thead>
<tbody>${items.map((op) => operationRow(op, showResource))}</tbody>
</table>`;

export const envCrumbs = (environment: string, ...rest: Crumb[]): Crumb[] => [
  { label: environment, href: path`/environments/${environment}` },
  ...rest,
];

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
