import { hasEnded } from '../../domain/operation.js';
import { toOperationResult } from '../../engine/operation-result.js';
import { OperationNotFoundError } from '../../domain/errors.js';
import { renderLogLine } from '../../projections/read-model.js';
import { markup, path } from '../html.js';
import { noQuery, param, type Handler } from '../handler.js';
import { layout } from '../layout.js';
import type { Route } from '../router.js';
import { pageRoute, type PageDependencies } from './page.js';
import { activityPath, envCrumbs, pathOfResource, ROLLBACK_LABELS, time } from './parts.js';

/**
 * An operation: its state, its log, and, until it has ended, the live log and a cancel button
 * (both need the page's script; without it the page is a snapshot, and the form stays hidden).
 */
export const operationPage = ({ reads, readStore }: PageDependencies): Route<Handler> =>
  pageRoute('/operations/:id', async (ctx) => {
    noQuery(ctx);
    const id = param(ctx, 'id');
    // Both check `authorize` before anything is shown.
    const [op, lines] = await Promise.all([
      reads.operation(id, { actor: ctx.actor }),
      reads.logs(id, { actor: ctx.actor }),
    ]);
    const record = await readStore.operation(id);
    if (!record) throw new OperationNotFoundError(id);
    // 'failed' comes before the rollback: the operation has ended only once that is done too.
    const ended = hasEnded(record.state);
    // The one sentence the engine's result gives, as `opledger run` and the live page end with.
    const verdict = ended ? toOperationResult(record.state).summary : '';
    const cancellable = op.status === 'queued' || op.status === 'running';
    // Who runs it: a worker (its fence counts the changes of owner), or the engine that
    // started it. The log says when and why it was taken over.
    const owner = record.state.owner;
    const worker = owner
      ? markup`${owner.worker} <small>(fence ${String(owner.fence)}${owner.fence > 1 ? ', taken over' : ''})</small>`
      : markup`<small>the process that started it</small>`;
    const resourcePath = pathOfResource(op.environment, op.resource);
    const resourceLabel = `${op.resource.type}:${op.resource.handle}`;
    const log = lines.map(
      (line) =>
        markup`<span class="line level-${line.level}" data-revision="${line.revision}">${renderLogLine(line)}\n</span>`,
    );
    const cancelForm = markup`<form id="cancel-form" hidden>
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
        section: {
          environment: op.environment,
          ...(op.resource.type === 'app' ? { app: op.resource.handle } : {}),
        },
        data: {
          'operation-id': op.id,
          'operation-type': op.type,
          // The script follows the live log of an operation that has not ended.
          live: ended ? 'off' : 'pending',
          'rollback-labels': JSON.stringify(ROLLBACK_LABELS),
        },
      },
      markup`<h1>${op.type} <small>on ${resourcePath ? markup`<a href="${resourcePath}">${resourceLabel}</a>` : resourceLabel}</small></h1>
<dl id="operation">
<dt>Id</dt><dd><code>${op.id}</code></dd>
<dt>Status</dt><dd id="status" data-status="${op.status}">${op.status}</dd>
<dt>Rollback</dt><dd id="rollback" data-rollback="${op.rollback}">${ROLLBACK_LABELS[op.rollback]}</dd>
<dt>User</dt><dd>${op.user}</dd>
<dt>Run by</dt><dd id="worker">${worker}</dd>
<dt>Created</dt><dd>${time(op.createdAt)}</dd>
<dt>Started</dt><dd id="started">${time(op.startedAt)}</dd>
<dt>Finished</dt><dd id="finished">${time(op.finishedAt)}</dd>
</dl>
<p id="verdict" class="verdict${op.rollback === 'failed' ? ' bad' : ''}" aria-live="polite">${verdict}</p>
${cancellable && cancelForm}
<h2>Operation Log <a id="download-log" class="button" href="${path`/api/operations/${op.id}/log.txt`}" download>Download log</a></h2>
<p id="live-state" role="status"></p>
<pre id="log">${log}</pre>`,
    );
  });
