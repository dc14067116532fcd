import type { StepLog } from '../../domain/step.js';
import { AppStateError } from './app-errors.js';
import type { Resolved } from './app-options.js';

export const stopAndRemove = async (r: Resolved, id: string, signal?: AbortSignal) => {
  await r.infra.containers.stopContainer(
    { containerId: id, stopTimeoutMs: r.stopTimeoutMs },
    { signal },
  );
  await r.infra.containers.removeContainer(id, { signal });
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
