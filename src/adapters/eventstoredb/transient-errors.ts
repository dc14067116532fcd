// The EventStoreDB and KurrentDB clients report an unreachable node, a call cut off by the
// network and a node that lost its leadership (a failover) with these error types.
const TRANSIENT_TYPES = new Set(['unavailable', 'deadline-exceeded', 'not-leader']);

/**
 * Whether an EventStoreDB store's error is transient: the node unavailable, a deadline passed,
 * a leader that changed (a failover). The engine waits them out (createEngine's storeOutage).
 *
 * @example
 * ```ts
 * isTransientEventStoreDbError({ type: 'unavailable', message: 'no connection' }); // true
 * ```
 */
export const isTransientEventStoreDbError = (error: unknown): boolean => {
  if (typeof error !== 'object' || error === null) return false;
  const { type, code } = error as { type?: unknown; code?: unknown };
  return (
    (typeof type === 'string' && TRANSIENT_TYPES.has(type)) ||
    // NOT_LEADER: the adapter's NotLeaderError, after its one retry at the named leader
    // failed too (nothing was written: a failover in progress, worth waiting out).
    (typeof code === 'string' &&
      ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'NOT_LEADER'].includes(code))
  );
};
