import { filter, firstValueFrom } from 'rxjs';
import { ConcurrencyError } from '../domain/errors.js';
import { encodeEvent } from '../domain/event-codec.js';
import type { EventStore } from '../domain/event-store.js';
import type { ResourceEvent } from '../domain/events.js';
import {
  evolveResourceQueue,
  initialResourceQueue,
  mayStart,
  type ResourceQueueState,
} from '../domain/resource-queue.js';
import type { Decode } from './operation-stream.js';

export interface LoadedQueue {
  state: ResourceQueueState;
  revision: bigint;
  lastPosition: bigint;
}

// A resource's queue stream grows by three events per operation for as long as the resource
// lives, and every operation reads it two or three times: folding it from the start each time
// made an operation cost O(operations the resource ever had). Each engine (one decoder) keeps
// the folded state per stream and reads only the events after it. The store stays the truth:
// those later events, written by any process, are always read before the state is used.
const folded = new WeakMap<Decode, WeakMap<EventStore, Map<string, LoadedQueue>>>();

const cacheFor = (store: EventStore, decode: Decode): Map<string, LoadedQueue> => {
  let byStore = folded.get(decode);
  if (!byStore) folded.set(decode, (byStore = new WeakMap()));
  let streams = byStore.get(store);
  if (!streams) byStore.set(store, (streams = new Map()));
  return streams;
};

export const loadResourceQueue = async (
  store: EventStore,
  decode: Decode,
  stream: string,
): Promise<LoadedQueue> => {
  const cache = cacheFor(store, decode);
  const known = cache.get(stream);
  const recorded = await store.readStream(
    stream,
    known ? { from: known.revision + 1n } : undefined,
  );
  if (known && recorded.length === 0) return known;
  let state = known?.state ?? initialResourceQueue();
  for (const r of recorded) state = evolveResourceQueue(state, decode(r) as ResourceEvent);
  const last = recorded.at(-1);
  const loaded: LoadedQueue = {
    state,
    revision: last?.streamRevision ?? known?.revision ?? -1n,
    lastPosition: last?.globalPosition ?? known?.lastPosition ?? 0n,
  };
  if (last) cache.set(stream, loaded);
  return loaded;
};

const append = (
  store: EventStore,
  stream: string,
  event: ResourceEvent,
  expected: bigint | 'any',
) =>
  store.append(stream, [encodeEvent(event)], {
    expectedVersion: expected === 'any' ? 'any' : expected < 0n ? 'no_stream' : expected,
  });

export const enqueueOnResource = async (
  store: EventStore,
  stream: string,
  operationId: string,
  at: string,
): Promise<void> => {
  await append(
    store,
    stream,
    { type: 'ResourceOperationQueued', data: { operationId, at } },
    'any',
  );
};

export const releaseResource = async (
  store: EventStore,
  decode: Decode,
  stream: string,
  operationId: string,
  at: string,
): Promise<void> => {
  const { state } = await loadResourceQueue(store, decode, stream);
  if (state.holder !== operationId && !state.waiting.includes(operationId)) return;
  await append(
    store,
    stream,
    { type: 'ResourceOperationFinished', data: { operationId, at } },
    'any',
  );
};

export interface AcquireOptions {
  store: EventStore;
  decode: Decode;
  stream: string;
  operationId: string;
  now: () => string;
  /** Other streams whose changes should wake the wait (the operation's own, for cancels). */
  watch: { stream: string; after: () => bigint };
  /** Checked before each attempt; true gives up the wait. */
  shouldStop: () => Promise<boolean>;
}

/**
 * Waits until the operation is first in its resource's queue and nobody holds the resource,
 * then claims it with an append at the revision it read: with several engines on one store,
 * exactly one claim succeeds and the others see a concurrency error and read again.
 */
export const acquireResource = async (o: AcquireOptions): Promise<'acquired' | 'stopped'> => {
  for (;;) {
    const queue = await loadResourceQueue(o.store, o.decode, o.stream);
    if (queue.state.holder === o.operationId) return 'acquired';
    if (await o.shouldStop()) return 'stopped';
    if (mayStart(queue.state, o.operationId)) {
      try {
        await append(
          o.store,
          o.stream,
          { type: 'ResourceOperationStarted', data: { operationId: o.operationId, at: o.now() } },
          queue.revision,
        );
        return 'acquired';
      } catch (error) {
        if (error instanceof ConcurrencyError) continue;
        throw error;
      }
    }
    const watched = new Map([
      [o.stream, queue.lastPosition],
      [o.watch.stream, o.watch.after()],
    ]);
    const after = [...watched.values()].reduce((a, b) => (a < b ? a : b));
    await firstValueFrom(
      o.store
        .subscribe({ after })
        .pipe(filter((r) => (watched.get(r.streamName) ?? Infinity) < r.globalPosition)),
    );
  }
};
