/**
 * Downtime of one kind of subject (endpoints or databases). Downtime counts only once a subject
 * has been up for the first time: an endpoint being provisioned is not "down". Deleting a
 * subject stops its clock; it counts again from its next "up".
 */
export interface AvailabilityLedger {
  /** Returns the transition it caused, if any, so the caller can put it on the timeline. */
  observe(id: string, up: boolean, at: number): 'up' | 'down' | null;
  retire(id: string, at: number): void;
  /** Total downtime per subject in ms, counting an ongoing outage up to `now`. */
  totals(now: number): Record<string, number>;
}

interface Tracked {
  tracking: boolean;
  downSince: number | null;
  totalMs: number;
}

export const createAvailabilityLedger = (): AvailabilityLedger => {
  const subjects = new Map<string, Tracked>();
  const get = (id: string): Tracked => {
    let tracked = subjects.get(id);
    if (!tracked) {
      tracked = { tracking: false, downSince: null, totalMs: 0 };
      subjects.set(id, tracked);
    }
    return tracked;
  };
  return {
    observe: (id, up, at) => {
      const tracked = get(id);
      if (!tracked.tracking) {
        if (!up) return null;
        tracked.tracking = true;
        return 'up';
      }
      const wasUp = tracked.downSince === null;
      if (wasUp === up) return null;
      if (up) {
        tracked.totalMs += at - (tracked.downSince ?? at);
        tracked.downSince = null;
        return 'up';
      }
      tracked.downSince = at;
      return 'down';
    },
    retire: (id, at) => {
      const tracked = get(id);
      if (tracked.downSince !== null) tracked.totalMs += at - tracked.downSince;
      tracked.downSince = null;
      tracked.tracking = false;
    },
    totals: (now) =>
      Object.fromEntries(
        [...subjects].map(([id, t]) => [
          id,
          t.totalMs + (t.downSince === null ? 0 : now - t.downSince),
        ]),
      ),
  };
};
