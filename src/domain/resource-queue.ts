import type { EventOf, ResourceEvent } from './events.js';

/** Operations on one resource run one at a time, in the order they were queued. */
export interface ResourceQueueState {
  /** Operations queued and not finished, oldest first; the holder is among them. */
  waiting: string[];
  holder?: string;
}

export const initialResourceQueue = (): ResourceQueueState => ({ waiting: [] });

export type ResourceQueueSnapshot = EventOf<'ResourceQueueSnapshotted'>;

export const evolveResourceQueue = (
  state: ResourceQueueState,
  event: ResourceEvent,
): ResourceQueueState => {
  switch (event.type) {
    case 'ResourceOperationQueued': {
      const { operationId } = event.data;
      return state.waiting.includes(operationId)
        ? state
        : { ...state, waiting: [...state.waiting, operationId] };
    }
    case 'ResourceOperationStarted':
      return { ...state, holder: event.data.operationId };
    case 'ResourceOperationFinished': {
      const { operationId } = event.data;
      const waiting = state.waiting.filter((id) => id !== operationId);
      return state.holder === operationId ? { waiting } : { ...state, waiting };
    }
    case 'ResourceQueueSnapshotted': {
      // A snapshot is the whole state at its revision: it replaces what came before it.
      const { waiting, holder } = event.data;
      return holder === undefined ? { waiting: [...waiting] } : { waiting: [...waiting], holder };
    }
  }
};

/** Whether `operationId` may start now: nobody holds the resource and it is next in line. */
export const mayStart = (state: ResourceQueueState, operationId: string): boolean =>
  state.holder === operationId || (state.holder === undefined && state.waiting[0] === operationId);

/**
 * How many queue events a process may fold past the newest snapshot before it writes a new
 * one: a process meeting the resource for the first time reads one snapshot and at most about
 * this many events (plus those written since by operations still in flight), whatever the
 * resource's history. Small, because it is the cost of a cold start; not tiny, because each
 * snapshot is one more append (one per ~17 operations at 50 events).
 */
export const RESOURCE_SNAPSHOT_EVERY = 50n;

/**
 * Whether a process that folded the queue up to `revision`, with the newest snapshot it knows
 * at `snapshotUpTo` (-1n: none), should write a snapshot.
 *
 * @example
 * ```ts
 * isResourceSnapshotDue(49n, -1n); // true: 50 events folded and no snapshot
 * isResourceSnapshotDue(120n, 99n); // false
 * ```
 */
export const isResourceSnapshotDue = (revision: bigint, snapshotUpTo: bigint): boolean =>
  revision - snapshotUpTo >= RESOURCE_SNAPSHOT_EVERY;

/**
 * The snapshot of a queue folded up to stream revision `upTo`, whose last event is at global
 * position `position`. Folding it then the events after `upTo` gives the state the whole
 * stream gives.
 *
 * @example
 * ```ts
 * const snapshot = resourceQueueSnapshot({ waiting: ['op-2'] }, 299n, 1200n, new Date().toISOString());
 * evolveResourceQueue(initialResourceQueue(), snapshot); // { waiting: ['op-2'] }
 * ```
 */
export const resourceQueueSnapshot = (
  state: ResourceQueueState,
  upTo: bigint,
  position: bigint,
  at: string,
): ResourceQueueSnapshot => ({
  type: 'ResourceQueueSnapshotted',
  data: {
    upTo: upTo.toString(),
    position: position.toString(),
    waiting: [...state.waiting],
    ...(state.holder === undefined ? {} : { holder: state.holder }),
    at,
  },
});
