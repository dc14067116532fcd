import { filter, firstValueFrom } from 'rxjs';
import { ConcurrencyError } from '../domain/errors.js';
import { encodeEvent } from '../domain/event-codec.js';
import {
  appendNowOf,
  readStreamNowOf,
  type AppendResult,
  type EventData,
  type EventStore,
} from '../domain/event-store.js';
import type { ResourceEvent } from '../domain/events.js';
import {
  evolveResourceQueue,
  initialResourceQueue,
  isResourceSnapshotDue,
  mayStart,
  resourceQueueSnapshot,
  type ResourceQueueState,
} from '../domain/resource-queue.js';
import { resourceSnapshotStreamName } from '../domain/stream-names.js';
import type { Decode } from './operation-stream.js';

export interface LoadedQueue {
  state: ResourceQueueState;
  revision: bigint;
  lastPosition: bigint;
}

// A resource's queue stream grows by three events per operation for as long as the resource
// lives. An operation whose engine knows the queue (its own appends were the last ones, see
// noteAppended) claims and releases without reading it; any other reads it once or twice.
// Two things keep that read from growing with the resource's history:
//
// - Within a process, each engine (one decoder) keeps the folded state per stream and reads
//   only the events after it. The store stays the truth: those later events, written by any
//   process, are always read before the state is used.
// - Across processes, snapshots of the folded queue are written beside the stream (its
//   `snapshot-` stream, see resourceSnapshotStreamName) every RESOURCE_SNAPSHOT_EVERY events:
//   a process meeting the resource for the first time reads the last snapshot (one event,
//   read backwards) and the events after the revision it folds up to.
//
// Why snapshots and not a queue stream closed and continued in a new one: the queue stream is
// the lock and the request order, and snapshots leave both exactly as they were. A request's
// place stays one blind append to one stream, so the store's order of those appends is still
// the request order, and a claim stays one append at the revision read. A continuation would
// move the lock from stream to stream: a place appended to a stream that another process has
// just closed would need a guarded append and a retry (contention on every request), the
// closing process a second write to say where the queue went on (the port has no transaction
// over two streams, so a crash between them is one more state to recover), and a fresh
// process a chain of streams to follow or a pointer stream to keep. A snapshot is only a
// cache of a fold: one that is missing, stale, or lost to a race costs time, never order or
// one-at-a-time, and a store written before snapshots existed (no snapshot stream) is read
// whole once, by the first process, which writes the first snapshot: no migration step. What
// snapshots do not do is shrink the queue stream itself; it is kept, like every operation's
// stream, and nothing on the hot path reads it from the start any more. Every other read an
// operation makes, and what bounds it (or that nothing does), is listed in docs/concepts.md
// ("A long history costs nothing on the hot path").
interface FoldedQueue extends LoadedQueue {
  /** The queue revision the newest snapshot this process knows folds up to; -1n: none. */
  snapshotUpTo: bigint;
  /** That snapshot's revision in the snapshot stream (the expected version of the next). */
  snapshotRevision: bigint;
}

const folded = new WeakMap<Decode, WeakMap<EventStore, Map<string, FoldedQueue>>>();

const cacheFor = (store: EventStore, decode: Decode): Map<string, FoldedQueue> => {
  let byStore = folded.get(decode);
  if (!byStore) folded.set(decode, (byStore = new WeakMap()));
  let streams = byStore.get(store);
  if (!streams) byStore.set(store, (streams = new Map()));
  return streams;
};

// The streams whose snapshot an engine is writing, by its cache.
const snapshotting = new WeakMap<Map<string, FoldedQueue>, Set<string>>();

const writingFor = (cache: Map<string, FoldedQueue>): Set<string> => {
  let writing = snapshotting.get(cache);
  if (!writing) snapshotting.set(cache, (writing = new Set()));
  return writing;
};

const noSnapshot = (snapshotRevision: bigint): FoldedQueue => ({
  state: initialResourceQueue(),
  revision: -1n,
  lastPosition: 0n,
  snapshotUpTo: -1n,
  snapshotRevision,
});

/** The newest snapshot of a queue, as the state it gives: one event read, backwards. */
const latestSnapshot = async (
  store: EventStore,
  decode: Decode,
  stream: string,
): Promise<FoldedQueue> => {
  const [last] = await store.readStream(resourceSnapshotStreamName(stream), {
    direction: 'backwards',
    maxCount: 1,
  });
  if (!last) return noSnapshot(-1n);
  const event = decode(last);
  // Anything else in a snapshot stream is no snapshot: folding the queue from its start is
  // always right, only slower.
  if (event.type !== 'ResourceQueueSnapshotted') return noSnapshot(last.streamRevision);
  const upTo = BigInt(event.data.upTo);
  return {
    state: evolveResourceQueue(initialResourceQueue(), event),
    revision: upTo,
    lastPosition: BigInt(event.data.position),
    snapshotUpTo: upTo,
    snapshotRevision: last.streamRevision,
  };
};

/**
 * Writes a snapshot of `queue` at the revision it folds up to. Only after the newest snapshot
 * this process knows (expected version): two processes due at once write one between them,
 * and the snapshots' revisions only grow along the stream. A snapshot is an optimisation: a
 * failure to write one (a race lost, a read-only store) leaves the state as it is.
 */
const writeSnapshot = async (
  store: EventStore,
  decode: Decode,
  stream: string,
  queue: FoldedQueue,
  now: () => string,
): Promise<FoldedQueue> => {
  const snapshot = resourceQueueSnapshot(queue.state, queue.revision, queue.lastPosition, now());
  try {
    const written = await store.append(
      resourceSnapshotStreamName(stream),
      [encodeEvent(snapshot)],
      {
        expectedVersion: queue.snapshotRevision < 0n ? 'no_stream' : queue.snapshotRevision,
      },
    );
    return {
      ...queue,
      snapshotUpTo: queue.revision,
      snapshotRevision: written.nextExpectedRevision,
    };
  } catch (error) {
    if (!(error instanceof ConcurrencyError)) return queue;
    // Another process wrote one meanwhile: learn where, so as to write the next one after it.
    const latest = await latestSnapshot(store, decode, stream).catch(() => undefined);
    return latest
      ? { ...queue, snapshotUpTo: latest.snapshotUpTo, snapshotRevision: latest.snapshotRevision }
      : queue;
  }
};

const systemNow = () => new Date().toISOString();

/**
 * The state of a resource's queue: this engine's folded state (or, in a process that has not
 * met the resource yet, its newest snapshot) and every event after it. Writes a snapshot when
 * RESOURCE_SNAPSHOT_EVERY events were folded past the newest one; `now` dates it.
 *
 * @example
 * ```ts
 * const { state, revision } = await loadResourceQueue(store, decode, resourceStreamName('production', { type: 'app', handle: 'web' }));
 * mayStart(state, 'op-1');
 * ```
 */
export const loadResourceQueue = async (
  store: EventStore,
  decode: Decode,
  stream: string,
  now: () => string = systemNow,
): Promise<LoadedQueue> => {
  const cache = cacheFor(store, decode);
  const base = cache.get(stream) ?? (await latestSnapshot(store, decode, stream));
  const after = base.revision >= 0n ? { from: base.revision + 1n } : undefined;
  const recorded =
    readStreamNowOf(store)?.(stream, after) ?? (await store.readStream(stream, after));
  let state = base.state;
  for (const r of recorded) state = evolveResourceQueue(state, decode(r) as ResourceEvent);
  const last = recorded.at(-1);
  let loaded: FoldedQueue = last
    ? { ...base, state, revision: last.streamRevision, lastPosition: last.globalPosition }
    : base;
  // A load that overlapped another may have begun before that one wrote a snapshot: it knows
  // that snapshot from the cache. And one snapshot write at a time for a stream in this
  // engine: a second load while the first is written would write one after the same snapshot,
  // which the store refuses.
  const current = cache.get(stream);
  if (current && current.snapshotUpTo > loaded.snapshotUpTo) {
    loaded = {
      ...loaded,
      snapshotUpTo: current.snapshotUpTo,
      snapshotRevision: current.snapshotRevision,
    };
  }
  const writing = writingFor(cache);
  if (isResourceSnapshotDue(loaded.revision, loaded.snapshotUpTo) && !writing.has(stream)) {
    writing.add(stream);
    try {
      loaded = await writeSnapshot(store, decode, stream, loaded, now);
    } finally {
      writing.delete(stream);
    }
  }
  // Loads of one stream may overlap (and noteAppended may move it on meanwhile): keep the state
  // folded further, with the newest snapshot either knows, so that a snapshot this load wrote
  // is not forgotten and written again (refused) by the next load.
  const cached = cache.get(stream);
  if (loaded.revision >= 0n) {
    if (!cached || cached.revision <= loaded.revision) cache.set(stream, loaded);
    else if (cached.snapshotUpTo < loaded.snapshotUpTo) {
      cache.set(stream, {
        ...cached,
        snapshotUpTo: loaded.snapshotUpTo,
        snapshotRevision: loaded.snapshotRevision,
      });
    }
  }
  return { state: loaded.state, revision: loaded.revision, lastPosition: loaded.lastPosition };
};

/** Appended at once on a store that can (see appendNowOf), else through `append`. */
const append = (
  store: EventStore,
  stream: string,
  event: ResourceEvent,
  expected: bigint | 'any',
): AppendResult | Promise<AppendResult> => {
  const events = [encodeEvent(event)];
  const options = {
    expectedVersion:
      expected === 'any' ? ('any' as const) : expected < 0n ? ('no_stream' as const) : expected,
  };
  return appendNowOf(store)?.(stream, events, options) ?? store.append(stream, events, options);
};

/**
 * Folds into this engine's state of the queue an event it appended, when the store put it right
 * after that state (nothing else was appended between): the next decision this engine makes on
 * the queue then needs no read. Any other result leaves the state as it was, to be read again.
 *
 * @example
 * ```ts
 * const entry: ResourceEvent = { type: 'ResourceOperationQueued', data: { operationId, at } };
 * noteAppended(store, decode, stream, entry, await store.append(stream, [encodeEvent(entry)]));
 * ```
 */
export const noteAppended = (
  store: EventStore,
  decode: Decode,
  stream: string,
  event: ResourceEvent,
  result: AppendResult,
): void => {
  const cache = cacheFor(store, decode);
  const cached = cache.get(stream);
  if (cached && result.nextExpectedRevision === cached.revision + 1n) {
    cache.set(stream, {
      ...cached,
      state: evolveResourceQueue(cached.state, event),
      revision: result.nextExpectedRevision,
      lastPosition: result.lastPosition,
    });
  }
};

/**
 * The queue as this engine last folded it, when a decision may be tried on it without a read:
 * the decision's append is then made at its revision, so the store accepts it only if nothing
 * was appended since (the same guarantee as a decision made on a read), and a refusal sends the
 * caller back to reading. Undefined when unknown, or when a snapshot is due (only a load writes
 * one).
 */
const knownQueue = (store: EventStore, decode: Decode, stream: string): FoldedQueue | undefined => {
  const cached = cacheFor(store, decode).get(stream);
  return cached && !isResourceSnapshotDue(cached.revision, cached.snapshotUpTo)
    ? cached
    : undefined;
};

/** A request's place in its resource's queue: appended with no expected version (blind). */
export const queueEntry = (operationId: string, at: string): EventData =>
  encodeEvent(queuedEvent(operationId, at));

/** A request's place as the queue folds it (see noteAppended). */
export const queuedEvent = (operationId: string, at: string): ResourceEvent => ({
  type: 'ResourceOperationQueued',
  data: { operationId, at },
});

export const enqueueOnResource = async (
  store: EventStore,
  decode: Decode,
  stream: string,
  operationId: string,
  at: string,
): Promise<void> => {
  const event = queuedEvent(operationId, at);
  const result = await store.append(stream, [encodeEvent(event)], { expectedVersion: 'any' });
  noteAppended(store, decode, stream, event, result);
};

/**
 * Gives the resource up: appends that the operation finished, unless the queue no longer has
 * it (given up already, or dropped by recover() or a worker). Decided on this engine's state of
 * the queue when it is known (appended at its revision), else, or when the store refuses that,
 * on a read.
 */
export const releaseResource = async (
  store: EventStore,
  decode: Decode,
  stream: string,
  operationId: string,
  at: string,
): Promise<void> => {
  const finished: ResourceEvent = { type: 'ResourceOperationFinished', data: { operationId, at } };
  // First on the known state; that one says "not queued" only for a read to confirm. A read's
  // decision is appended at the revision read too: a drop by another process between the read
  // and the append is seen on the next read instead of followed by a second Finished.
  let known = knownQueue(store, decode, stream);
  for (;;) {
    const queue =
      known && isQueued(known.state, operationId)
        ? known
        : await loadResourceQueue(store, decode, stream, () => at);
    known = undefined;
    if (!isQueued(queue.state, operationId)) return;
    try {
      const result = await append(store, stream, finished, queue.revision);
      noteAppended(store, decode, stream, finished, result);
      return;
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
    }
  }
};

const isQueued = (state: ResourceQueueState, operationId: string): boolean =>
  state.holder === operationId || state.waiting.includes(operationId);

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
  // First on what this engine knows of the queue (its own place noted when it was appended):
  // a claim at that revision needs no read, and is refused if anything was appended since.
  const known = knownQueue(o.store, o.decode, o.stream);
  if (known && known.state.holder === undefined && known.state.waiting[0] === o.operationId) {
    if (await o.shouldStop()) return 'stopped';
    if (await claim(o, known.revision)) return 'acquired';
  }
  for (;;) {
    const queue = await loadResourceQueue(o.store, o.decode, o.stream, o.now);
    if (queue.state.holder === o.operationId) return 'acquired';
    if (await o.shouldStop()) return 'stopped';
    if (mayStart(queue.state, o.operationId)) {
      if (await claim(o, queue.revision)) return 'acquired';
      continue;
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

/** Claims the resource at `revision`: false when the store refuses it (someone appended since). */
const claim = async (o: AcquireOptions, revision: bigint): Promise<boolean> => {
  const started: ResourceEvent = {
    type: 'ResourceOperationStarted',
    data: { operationId: o.operationId, at: o.now() },
  };
  try {
    noteAppended(
      o.store,
      o.decode,
      o.stream,
      started,
      await append(o.store, o.stream, started, revision),
    );
    return true;
  } catch (error) {
    if (error instanceof ConcurrencyError) return false;
    throw error;
  }
};
