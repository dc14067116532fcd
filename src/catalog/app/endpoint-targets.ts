import { AppStateError } from './app-errors.js';
import type { Resolved } from './app-options.js';

export const describeTargets = async (
  r: Resolved,
  endpointId: string,
  signal?: AbortSignal,
): Promise<string[]> => {
  const endpoint = await r.infra.loadBalancer.describeEndpoint(endpointId, { signal });
  if (!endpoint) throw new AppStateError(`endpoint ${endpointId} does not exist: provision first`);
  return endpoint.targets;
};

/**
 * The targets of an endpoint for an undo: none when the endpoint is gone (deleted, or a cloud
 * that was rebuilt), since nothing can be registered on it, and an undo has nothing to take off.
 */
export const targetsForUndo = async (r: Resolved, endpointId: string): Promise<string[]> =>
  (await r.infra.loadBalancer.describeEndpoint(endpointId))?.targets ?? [];

/** Refuses to remove the last serving targets of an endpoint: that would be downtime. */
export const assertOthersServe = async (
  r: Resolved,
  endpointId: string,
  leaving: readonly string[],
) => {
  const targets = await targetsForUndo(r, endpointId);
  const others = targets.filter((t) => !leaving.includes(t));
  if (others.length === 0 && targets.some((t) => leaving.includes(t))) {
    throw new AppStateError(
      `endpoint ${endpointId} would have no target left: refusing to deregister ${leaving.join(', ')}`,
    );
  }
};
