import type { Subscription } from 'rxjs';
import { InvalidRequestError, SkipRefusedError, StoredEventError } from '../domain/errors.js';
import { createEventDecoder, type Upcaster } from '../domain/event-codec.js';
import type { EventStore, RecordedEvent } from '../domain/event-store.js';
import type { Decode } from '../engine/operation-stream.js';
import { withStoreOutageRetry } from '../engine/store-outage.js';
import { projectOperationEventInBatch } from './project-operation-event.js';
import { ProjectionHandlerError } from './projection-errors.js';
import { createReadModelBatch } from './read-model-batch.js';
import type { ReadModelTransaction, ReadStore, SkippedEvent } from './read-store.js';
import {
  PROJECTOR_ADVICE,
  withReadStoreOutageRetry,
  type ProjectorOutageOptions,
} from './read-store-outage.js';

export type { ProjectorOutageOptions };

export const OPERATIONS_PROJECTION = 'operations';

export interface ProjectorOptions {
  store: EventStore;
  readStore: ReadStore;
  upcasters?: readonly Upcaster[];
  /** Events applied per read-store transaction. */
  batchSize?: number;
  /** Told each time the projector passes over an event an operator skipped (in a rebuild, say). */
  onSkipped?: (skip: SkippedEvent) => void;
  /**
   * Riding out outages of the event store and of the read store (a PostgreSQL failover or
   * restart, dropped connections, a SQLite lock held past its timeout), as the engine's
   * `storeOutage`: a call that fails for a transient reason is made again with backoff and
   * jitter for up to `maxMs` (60 000 by default; 0 does not wait), then fails with a
   * `StoreUnavailableError`. Catching up resumes from the checkpoint and a live projector's
   * subscription from the last event it got, so no event is applied twice or skipped.
   */
  storeOutage?: ProjectorOutageOptions;
}

/** Who skips an event, and why; `at` defaults to now. */
export interface SkipRequest {
  user: string;
  reason: string;
  at?: Date;
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
  /**
   * Passes over the stored event the read models stop at, which cannot be read (not JSON, an
   * unknown type, a schema mismatch...) and cannot be repaired: records who skipped it, when
   * and why, with the checkpoint that moves past it, in one read-store transaction. A rebuild
   * passes over it the same way. Refused (`SkipRefusedError`) unless catching up stops with a
   * `StoredEventError` at exactly `position`. Catch up again afterwards for the events after it.
   *
   * @example
   * ```ts
   * // The read models stop: "Stored event at position 4 (stream 'operation-...') cannot be read"
   * const skip = await projector.skip(4n, { user: 'ops@example.com', reason: 'row cut by a disk fault' });
   * await projector.catchUp();
   * ```
   */
  skip(position: bigint, request: SkipRequest): Promise<SkippedEvent>;
}

/**
 * Runs the Operation Log, Activity Report and resource projections over the store's global
 * stream. Each batch and its checkpoint are written in one read-store transaction, and events
 * at or below the checkpoint are skipped, so redelivery changes nothing.
 *
 * @example
 * ```ts
 * import { createInMemoryEventStore, createInMemoryReadStore } from 'opledger';
 * import { createProjector } from 'opledger/projections';
 *
 * const store = createInMemoryEventStore();
 * const readStore = createInMemoryReadStore();
 * const projector = createProjector({ store, readStore });
 * await projector.start(); // catch-up, then live, until projector.stop()
 * ```
 */
export const createProjector = (options: ProjectorOptions): Projector =>
  createCheckpointedProjector(options, {
    projection: OPERATIONS_PROJECTION,
    beginBatch: (tx, decode) => {
      const batch = createReadModelBatch(tx);
      return {
        apply: (event) => projectOperationEventInBatch(batch, event, decode),
        end: () => batch.flush(),
      };
    },
    forget: () => options.readStore.reset(OPERATIONS_PROJECTION),
  });

/** One batch of a projection, inside its read-store transaction. */
export interface ProjectionBatch {
  /** Undefined when the event was applied at once (no promise: see projectOperationEventInBatch). */
  apply(event: RecordedEvent): Promise<void> | undefined;
  /** Called once every event of the batch is applied, before the checkpoint moves. */
  end(): Promise<void>;
}

/**
 * What a projection run by the checkpointed projector does: the built-in read model and every
 * user-defined projection share the loop below (checkpoint, batches, skips, catch-up then live).
 */
export interface ProjectionSpec {
  projection: string;
  beginBatch(tx: ReadModelTransaction, decode: Decode): ProjectionBatch;
  /** Forgets what the projection wrote and its checkpoint (before a rebuild). */
  forget(): Promise<void>;
  /** Runs before every catch-up: a user projection whose version changed is rebuilt here. */
  prepare?(): Promise<void>;
}

/** The position of the one event an error is about, when it is about one. */
const stoppedAt = (error: unknown): bigint | undefined =>
  error instanceof StoredEventError || error instanceof ProjectionHandlerError
    ? error.position
    : undefined;

export const createCheckpointedProjector = (
  options: ProjectorOptions,
  spec: ProjectionSpec,
): Projector => {
  const name = spec.projection;
  // Every call of the loop below rides out outages; a batch's transaction whose answer was lost
  // is found committed by its checkpoint rather than applied again.
  const outage = options.storeOutage ?? {};
  const store = withStoreOutageRetry(options.store, { ...outage, advice: PROJECTOR_ADVICE });
  const readStore = withReadStoreOutageRetry(options.readStore, outage);
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
  /** The skips of the read store, by position; loaded again at every catch-up. */
  let skips = new Map<bigint, SkippedEvent>();
  const loadSkips = async () => {
    skips = new Map((await readStore.skippedEvents(name)).map((s) => [BigInt(s.position), s]));
  };

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

  const applyBatch = async (events: readonly RecordedEvent[]): Promise<void> => {
    const checkpoint = await readStore.checkpoint(name);
    const fresh = events.filter((e) => e.globalPosition > checkpoint);
    if (fresh.length === 0) return;
    const last = fresh[fresh.length - 1]!.globalPosition;
    try {
      await readStore.transaction(name, last, async (tx) => {
        const batch = spec.beginBatch(tx, decode);
        for (const event of fresh) {
          if (skips.has(event.globalPosition)) continue;
          const pending = batch.apply(event);
          if (pending) await pending;
        }
        await batch.end();
      });
    } catch (error) {
      // The events before an unreadable one (or one a handler threw on) are committed, so that
      // the read models stop right at it: the position its error names is the one to look at.
      const bad = stoppedAt(error);
      const before = bad === undefined ? [] : fresh.filter((e) => e.globalPosition < bad);
      if (before.length > 0 && before.length < fresh.length) await applyBatch(before);
      throw error;
    }
    for (const event of fresh) {
      const skip = skips.get(event.globalPosition);
      if (skip) options.onSkipped?.(skip);
    }
    applied = last;
    notify();
  };

  /**
   * Up to `max` events after `after`. When the store cannot read one of them (not JSON...),
   * the readable ones before it, a smaller page at a time; none at all and the store's error
   * when it is the next one.
   */
  const readPage = async (
    after: bigint,
    max: number,
  ): Promise<{ events: RecordedEvent[]; unreadable?: StoredEventError }> => {
    try {
      return { events: await store.readAll({ after, maxCount: max }) };
    } catch (error) {
      if (!(error instanceof StoredEventError) || error.position <= after) throw error;
      for (let count = Math.floor(max / 2); count > 0; count = Math.floor(count / 2)) {
        try {
          return { events: await store.readAll({ after, maxCount: count }) };
        } catch (again) {
          if (!(again instanceof StoredEventError) || again.position !== error.position)
            throw again;
        }
      }
      return { events: [], unreadable: error };
    }
  };

  const catchUpUnlocked = async (onProgress?: (position: bigint, head: bigint) => void) => {
    await spec.prepare?.();
    const head = await store.headPosition();
    await loadSkips();
    let position = await readStore.checkpoint(name);
    applied = position;
    while (position < head) {
      const { events, unreadable } = await readPage(position, batchSize);
      if (events.length > 0) {
        await applyBatch(events);
        position = events[events.length - 1]!.globalPosition;
      } else if (unreadable) {
        const skip = skips.get(unreadable.position);
        if (!skip) throw unreadable;
        // A row the store cannot read and an operator skipped: only the checkpoint moves.
        await readStore.transaction(name, unreadable.position, async () => {});
        position = applied = unreadable.position;
        options.onSkipped?.(skip);
        notify();
      } else break;
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
        await spec.forget();
        return catchUpUnlocked(onProgress);
      }),

    lag: async () => {
      const [head, checkpoint] = await Promise.all([
        store.headPosition(),
        readStore.checkpoint(name),
      ]);
      return head - checkpoint;
    },

    checkpoint: () => readStore.checkpoint(name),

    skip: (position, request) =>
      exclusive(async () => {
        if (!request.user.trim() || !request.reason.trim()) {
          throw new InvalidRequestError('a skip needs the user who skips and the reason why');
        }
        let stop: StoredEventError | undefined;
        try {
          await catchUpUnlocked();
        } catch (error) {
          if (!(error instanceof StoredEventError)) throw error;
          stop = error;
        }
        if (stop?.position !== position) throw new SkipRefusedError(position, stop?.position);
        const skipped: SkippedEvent = {
          position: position.toString(),
          stream: stop.stream,
          revision: stop.revision.toString(),
          code: stop.code,
          problem: stop.message,
          user: request.user,
          at: (request.at ?? new Date()).toISOString(),
          reason: request.reason,
        };
        await readStore.transaction(name, position, (tx) => tx.putSkippedEvent(skipped));
        skips.set(position, skipped);
        applied = position;
        notify();
        return skipped;
      }),

    waitFor: (position) =>
      new Promise<void>((resolve, reject) => {
        if (failure !== undefined) return reject(failure);
        if (applied >= position) return resolve();
        waiters.add({ position, resolve, reject });
      }),
  };
};
