import type { Subscription } from 'rxjs';
import type { EventStore, RecordedEvent } from '../../domain/event-store.js';
import type { ResourceEvent, WorkerEvent } from '../../domain/events.js';
import { evolve, hasEnded, initialState, type OperationState } from '../../domain/operation.js';
import {
  evolveResourceQueue,
  initialResourceQueue,
  type ResourceQueueState,
} from '../../domain/resource-queue.js';
import { isResourceStream, leaseOfStream, operationIdOfStream } from '../../domain/stream-names.js';
import { decodeOperationEvent, loadOperation, type Decode } from '../operation-stream.js';
import { evolveLease, type LeaseRecord } from './lease.js';

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
 * lease. It only points at candidates: every action a worker takes reads the stream it acts on
 * again and appends at the revision it read, so an index a little behind costs a retry, never
 * a wrong write.
 */
export interface WorkIndex {
  readonly operations: ReadonlyMap<string, OperationState>;
  readonly queues: ReadonlyMap<string, IndexedQueue>;
  readonly leases: ReadonlyMap<string, LeaseRecord>;
  /** Resolves once the index has read the store up to its head when it started. */
  readonly ready: Promise<void>;
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
  let position = 0n;
  let head: bigint | undefined;
  let markReady!: () => void;
  let failReady!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  let isReady = false;
  const checkReady = () => {
    if (!isReady && head !== undefined && position >= head) {
      isReady = true;
      markReady();
      changed();
    }
  };

  /** An ended operation reopened (a continued rollback) is read back whole. */
  const reopen = (id: string) => {
    loadOperation(store, decode, id)
      .then(({ state }) => {
        if (state.dispatch === 'worker' && !hasEnded(state) && !operations.has(id)) {
          operations.set(id, state);
          changed();
        }
      })
      .catch(failed);
  };

  const apply = (r: RecordedEvent) => {
    position = r.globalPosition;
    const id = operationIdOfStream(r.streamName);
    if (id !== undefined) {
      const event = decodeOperationEvent(decode, r);
      const before = operations.get(id);
      if (!before) {
        if (event.type === 'OperationRequested') {
          if (event.data.dispatch === 'worker') operations.set(id, evolve(initialState(), event));
        } else if (event.type === 'RollbackStarted') {
          reopen(id);
        }
        return;
      }
      const after = evolve(before, event);
      if (hasEnded(after)) operations.delete(id);
      else operations.set(id, after);
      return;
    }
    if (isResourceStream(r.streamName)) {
      const event = decode(r) as ResourceEvent;
      // Snapshots live on their own streams; a queue stream holds only its three events.
      if (event.type === 'ResourceQueueSnapshotted') return;
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
      return;
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
  };

  let subscription: Subscription | undefined;
  let stopped = false;
  store
    .headPosition()
    .then((h) => {
      if (stopped) return;
      head = h;
      subscription = store.subscribe({ after: 0n }).subscribe({
        next: (r) => {
          try {
            apply(r);
          } catch (error) {
            failed(error);
            return;
          }
          if (isReady) changed();
          else checkReady();
        },
        error: (error: unknown) => {
          failReady(error);
          failed(error);
        },
      });
      checkReady();
    })
    .catch((error: unknown) => {
      failReady(error);
      failed(error);
    });

  return {
    operations,
    queues,
    leases,
    ready,
    position: () => position,
    stop: () => {
      stopped = true;
      subscription?.unsubscribe();
    },
  };
};
