import type { Subscription } from 'rxjs';
import type { EventStore, RecordedEvent } from '../../domain/event-store.js';
import type {
  EventType,
  OperationEventType,
  ResourceEvent,
  WorkerEvent,
} from '../../domain/events.js';
import { evolve, hasEnded, initialState, type OperationState } from '../../domain/operation.js';
import {
  evolveResourceQueue,
  initialResourceQueue,
  type ResourceQueueState,
} from '../../domain/resource-queue.js';
import { isResourceStream, leaseOfStream, operationIdOfStream } from '../../domain/stream-names.js';
import {
  decodeOperationEvent,
  loadOperation,
  type Decode,
  type LoadedOperation,
} from '../operation-stream.js';
import { evolveLease, type LeaseRecord } from './lease.js';

/**
 * The operation events that change what a worker may claim or take over: a request, a change
 * of owner, an end, and a rollback that starts or ends (a continued rollback reopens an ended
 * operation). Steps, logs, cancellations and starts change none of it, and are most of an
 * operation's events.
 */
const WORK_OPERATION_EVENTS = [
  'OperationRequested',
  'OperationClaimed',
  'OperationTakenOver',
  'OperationSucceeded',
  'OperationFailed',
  'RollbackStarted',
  'RollbackFinished',
] as const satisfies readonly OperationEventType[];

/**
 * What a worker's index reads from the store (`types` of its subscription): the operation events
 * above, the resource queues' own events and the leases'. Snapshots of queues and the `workers`
 * registry are not needed. A store that cannot filter sends everything; the index skips the rest.
 */
export const WORK_EVENT_TYPES: readonly EventType[] = [
  ...WORK_OPERATION_EVENTS,
  'ResourceOperationQueued',
  'ResourceOperationStarted',
  'ResourceOperationFinished',
  'WorkerLeaseAcquired',
  'WorkerLeaseRenewed',
  'WorkerLeaseReleased',
  'WorkerLeaseExpired',
];
const workEventTypes = new Set<string>(WORK_EVENT_TYPES);

/** Events read per page while the index catches up. */
const CATCH_UP_PAGE = 1_000;

export interface QueueEntry {
  /** The global position of its place in the queue: the request order across resources. */
  position: bigint;
  recordedAt: Date;
}

export interface IndexedQueue {
  state: ResourceQueueState;
  entries: Map<string, QueueEntry>;
}

/**
 * What a worker needs to find work, folded from the store's events as they come (catch-up,
 * then live): the unfinished operations written for workers, every resource queue, and every
 * lease. It reads only the events of WORK_EVENT_TYPES, so its operation states are summaries:
 * status, owner and end are right, steps and logs are not there. It only points at candidates:
 * every action a worker takes appends at a revision it knows the whole stream up to (read again,
 * or see `claimable`), so an index a little behind costs a retry, never a wrong write.
 */
export interface WorkIndex {
  /** Summaries (see above): status, owner, type, resource and whether it ended. */
  readonly operations: ReadonlyMap<string, OperationState>;
  readonly queues: ReadonlyMap<string, IndexedQueue>;
  readonly leases: ReadonlyMap<string, LeaseRecord>;
  /** Resolves once the index has read the store's work events up to where the store was then. */
  readonly ready: Promise<void>;
  /**
   * The operation folded up to the last revision the index saw, when it saw every event of the
   * stream up to there (an operation only requested, typically): a claim can append at that
   * revision without reading the stream first. Anything written after it (by another worker, or
   * an event the index leaves out) makes that append conflict, and the claimer reads the stream
   * then. Undefined when an event before it was left out (a cancellation, say).
   */
  claimable(id: string): LoadedOperation | undefined;
  /** The global position read up to. */
  position(): bigint;
  stop(): void;
}

/**
 * Follows the store for a worker. `changed` is called after events that may make work
 * (debounced by the caller); `failed` when the subscription fails.
 *
 * @example
 * ```ts
 * const index = createWorkIndex(store, decode, () => schedule(), (e) => console.error(e));
 * await index.ready;
 * ```
 */
export const createWorkIndex = (
  store: EventStore,
  decode: Decode,
  changed: () => void,
  failed: (error: unknown) => void,
): WorkIndex => {
  const operations = new Map<string, OperationState>();
  const queues = new Map<string, IndexedQueue>();
  const leases = new Map<string, LeaseRecord>();
  /** Per operation: the last revision folded in, and whether every revision before it was. */
  const seen = new Map<string, { revision: bigint; lastPosition: bigint; whole: boolean }>();
  let position = 0n;

  /** An ended operation reopened (a continued rollback) is read back whole. */
  const reopen = (id: string) => {
    loadOperation(store, decode, id)
      .then(({ state, revision, lastPosition }) => {
        if (state.dispatch === 'worker' && !hasEnded(state) && !operations.has(id)) {
          operations.set(id, state);
          seen.set(id, { revision, lastPosition, whole: true });
          changed();
        }
      })
      .catch(failed);
  };

  /** Folds one event in; false for one the index has no use for (from a store that cannot filter). */
  const apply = (r: RecordedEvent): boolean => {
    position = r.globalPosition;
    if (!workEventTypes.has(r.type)) return false;
    const id = operationIdOfStream(r.streamName);
    if (id !== undefined) {
      const event = decodeOperationEvent(decode, r);
      const before = operations.get(id);
      if (!before) {
        if (event.type === 'OperationRequested') {
          if (event.data.dispatch === 'worker') {
            operations.set(id, evolve(initialState(), event));
            seen.set(id, {
              revision: r.streamRevision,
              lastPosition: r.globalPosition,
              whole: r.streamRevision === 0n,
            });
          }
        } else if (event.type === 'RollbackStarted') {
          reopen(id);
        }
        return true;
      }
      const after = evolve(before, event);
      if (hasEnded(after)) {
        operations.delete(id);
        seen.delete(id);
      } else {
        operations.set(id, after);
        const last = seen.get(id);
        seen.set(id, {
          revision: r.streamRevision,
          lastPosition: r.globalPosition,
          whole: last !== undefined && last.whole && r.streamRevision === last.revision + 1n,
        });
      }
      return true;
    }
    if (isResourceStream(r.streamName)) {
      const event = decode(r) as ResourceEvent;
      // Snapshots live on their own streams; a queue stream holds only its three events.
      if (event.type === 'ResourceQueueSnapshotted') return false;
      let queue = queues.get(r.streamName);
      if (!queue)
        queues.set(r.streamName, (queue = { state: initialResourceQueue(), entries: new Map() }));
      queue.state = evolveResourceQueue(queue.state, event);
      const { operationId } = event.data;
      if (event.type === 'ResourceOperationQueued' && !queue.entries.has(operationId)) {
        queue.entries.set(operationId, { position: r.globalPosition, recordedAt: r.recordedAt });
      } else if (event.type === 'ResourceOperationFinished') {
        queue.entries.delete(operationId);
      }
      if (queue.state.waiting.length === 0) queues.delete(r.streamName);
      return true;
    }
    const lease = leaseOfStream(r.streamName);
    if (lease !== undefined) {
      const record = evolveLease(
        leases.get(lease),
        decode(r) as WorkerEvent,
        r.streamRevision,
        r.recordedAt,
      );
      if (record) leases.set(lease, record);
    }
    return true;
  };

  let subscription: Subscription | undefined;
  let stopped = false;
  /**
   * Caught up by reads of the work events only, page after page; the live subscription starts
   * after the last one. A page shorter than asked for ends at what the store held when it was
   * read, so nothing the index needs is left between the two.
   */
  const catchUp = async () => {
    for (;;) {
      const page = await store.readAll({
        after: position,
        maxCount: CATCH_UP_PAGE,
        types: WORK_EVENT_TYPES,
      });
      for (const r of page) apply(r);
      if (page.length < CATCH_UP_PAGE || stopped) return;
    }
  };
  const ready = catchUp().then(() => {
    if (stopped) return;
    subscription = store.subscribe({ after: position, types: WORK_EVENT_TYPES }).subscribe({
      next: (r) => {
        let useful: boolean;
        try {
          useful = apply(r);
        } catch (error) {
          failed(error);
          return;
        }
        if (useful) changed();
      },
      error: (error: unknown) => failed(error),
    });
    changed();
  });
  ready.catch((error: unknown) => failed(error));

  return {
    operations,
    queues,
    leases,
    ready,
    claimable: (id) => {
      const state = operations.get(id);
      const last = seen.get(id);
      return state && last?.whole
        ? { state, revision: last.revision, lastPosition: last.lastPosition }
        : undefined;
    },
    position: () => position,
    stop: () => {
      stopped = true;
      subscription?.unsubscribe();
    },
  };
};
