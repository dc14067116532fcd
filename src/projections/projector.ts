import type { Subscription } from 'rxjs';
import { createEventDecoder, type Upcaster } from '../domain/event-codec.js';
import type { EventStore, RecordedEvent } from '../domain/event-store.js';
import { projectOperationEvent } from './project-operation-event.js';
import type { ReadStore } from './read-store.js';

export const OPERATIONS_PROJECTION = 'operations';

export interface ProjectorOptions {
  store: EventStore;
  readStore: ReadStore;
  upcasters?: readonly Upcaster[];
  /** Events applied per read-store transaction. */
  batchSize?: number;
}

export interface Projector {
  /** Applies every event after the checkpoint, up to the store's head at call time. */
  catchUp(): Promise<bigint>;
  /** Catch-up, then live: keeps the read model current until `stop()`. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Forgets the read model and replays the whole store into it. */
  rebuild(onProgress?: (position: bigint, head: bigint) => void): Promise<bigint>;
  /** Events written to the store and not yet applied. */
  lag(): Promise<bigint>;
  checkpoint(): Promise<bigint>;
  /**
   * Resolves once the read model has applied every event up to `position`; rejects if the
   * projector stopped on an error (a read-store failure, an unreadable event) before that.
   */
  waitFor(position: bigint): Promise<void>;
}

/**
 * Runs the Operation Log, Activity Report and resource projections over the store's global
 * stream. Each batch and its checkpoint are written in one read-store transaction, and events
 * at or below the checkpoint are skipped, so redelivery changes nothing.
 */
export const createProjector = (options: ProjectorOptions): Projector => {
  const { store, readStore } = options;
  const batchSize = options.batchSize ?? 500;
  const decode = createEventDecoder(options.upcasters);
  let live: Subscription | undefined;
  let pending: RecordedEvent[] = [];
  let draining: Promise<void> | undefined;
  let failure: unknown;
  const waiters = new Set<{
    position: bigint;
    resolve: () => void;
    reject: (e: unknown) => void;
  }>();
  let applied = 0n;

  const notify = () => {
    for (const w of waiters) {
      if (failure !== undefined) w.reject(failure);
      else if (applied >= w.position) w.resolve();
      else continue;
      waiters.delete(w);
    }
  };

  // Serialises every write: catch-up, live batches and rebuilds never interleave.
  let chain: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    const result = chain.then(work);
    chain = result.catch(() => undefined);
    return result;
  };

  const applyBatch = async (events: readonly RecordedEvent[]) => {
    const checkpoint = await readStore.checkpoint(OPERATIONS_PROJECTION);
    const fresh = events.filter((e) => e.globalPosition > checkpoint);
    if (fresh.length === 0) return;
    const last = fresh[fresh.length - 1]!.globalPosition;
    await readStore.transaction(OPERATIONS_PROJECTION, last, async (tx) => {
      for (const event of fresh) await projectOperationEvent(tx, event, decode);
    });
    applied = last;
    notify();
  };

  const catchUpUnlocked = async (onProgress?: (position: bigint, head: bigint) => void) => {
    const head = await store.headPosition();
    let position = await readStore.checkpoint(OPERATIONS_PROJECTION);
    applied = position;
    while (position < head) {
      const page = await store.readAll({ after: position, maxCount: batchSize });
      if (page.length === 0) break;
      await applyBatch(page);
      position = page[page.length - 1]!.globalPosition;
      onProgress?.(position, head);
    }
    notify();
    return position;
  };

  const drain = () => {
    draining ??= exclusive(async () => {
      try {
        while (pending.length > 0) {
          const batch = pending.slice(0, batchSize);
          await applyBatch(batch);
          pending = pending.slice(batch.length);
        }
      } catch (error) {
        // Never commit past a batch that failed: stop following, keep the checkpoint where it
        // is, and let waiters see the error. start() again resumes from the checkpoint.
        failure = error;
        live?.unsubscribe();
        live = undefined;
        pending = [];
        notify();
      } finally {
        draining = undefined;
      }
    });
  };

  return {
    catchUp: () => exclusive(() => catchUpUnlocked()),

    async start() {
      if (live) return;
      failure = undefined;
      const from = await exclusive(() => catchUpUnlocked());
      live = store.subscribe({ after: from }).subscribe({
        next: (event) => {
          pending.push(event);
          drain();
        },
        error: (error: unknown) => {
          failure = error;
          notify();
        },
      });
    },

    async stop() {
      live?.unsubscribe();
      live = undefined;
      await chain;
    },

    rebuild: (onProgress) =>
      exclusive(async () => {
        await readStore.reset(OPERATIONS_PROJECTION);
        return catchUpUnlocked(onProgress);
      }),

    lag: async () => {
      const [head, checkpoint] = await Promise.all([
        store.headPosition(),
        readStore.checkpoint(OPERATIONS_PROJECTION),
      ]);
      return head - checkpoint;
    },

    checkpoint: () => readStore.checkpoint(OPERATIONS_PROJECTION),

    waitFor: (position) =>
      new Promise<void>((resolve, reject) => {
        if (failure !== undefined) return reject(failure);
        if (applied >= position) return resolve();
        waiters.add({ position, resolve, reject });
      }),
  };
};
