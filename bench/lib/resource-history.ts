/**
 * A resource with a long past, written the quick way: the three queue events of each past
 * operation (queued, started, finished) appended straight to the resource's stream in large
 * batches, as a store written by any version of opledger holds them, without running the
 * engine (issue 22). No snapshot is written: the store looks like one written before
 * snapshots existed, so the first process to meet the resource pays the upgrade once.
 */
import type { EventData, EventStore } from '../../src/domain/event-store.js';
import { eventVersions } from '../../src/domain/events.js';

/** The id of the `i`-th past operation (0-based); they sort in their order. */
export const pastOperationId = (i: number): string => `past-${String(i).padStart(9, '0')}`;

const AT = '2026-01-05T10:00:00.000Z';

/** The queue events of past operations `from` (inclusive) to `to` (exclusive), all ended. */
export const pastQueueEvents = (from: number, to: number): EventData[] => {
  const out: EventData[] = [];
  for (let i = from; i < to; i++) {
    const operationId = pastOperationId(i);
    for (const type of [
      'ResourceOperationQueued',
      'ResourceOperationStarted',
      'ResourceOperationFinished',
    ] as const) {
      // What encodeEvent writes, without validating three million events on the way.
      out.push({ type, version: eventVersions[type], data: { operationId, at: AT } });
    }
  }
  return out;
};

/**
 * Appends `operations` past operations to `stream` (a resource's queue stream), `batch`
 * operations per append.
 *
 * @example
 * ```ts
 * await fillResourceHistory(store, resourceStreamName('production', { type: 'app', handle: 'web' }), 1_000_000);
 * ```
 */
export const fillResourceHistory = async (
  store: EventStore,
  stream: string,
  operations: number,
  batch = 2_000,
): Promise<void> => {
  for (let from = 0; from < operations; from += batch) {
    await store.append(stream, pastQueueEvents(from, Math.min(operations, from + batch)));
  }
};
