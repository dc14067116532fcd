import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  type EventStore,
} from '../../src/index.js';
import { createEventDecoder, decodeEvent, encodeEvent } from '../../src/domain/event-codec.js';
import type { ResourceEvent } from '../../src/domain/events.js';
import {
  evolveResourceQueue,
  initialResourceQueue,
  RESOURCE_SNAPSHOT_EVERY,
  type ResourceQueueState,
} from '../../src/domain/resource-queue.js';
import { resourceSnapshotStreamName, resourceStreamName } from '../../src/domain/stream-names.js';
import { loadResourceQueue } from '../../src/engine/resource-queue-stream.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { fillResourceHistory, pastOperationId } from '../../bench/lib/resource-history.js';
import { request } from '../support/fixtures.js';
import { requestOrder, runOrder } from '../support/request-order.js';

const stream = resourceStreamName('production', { type: 'app', handle: 'web' });
const at = '2026-01-05T10:00:00.000Z';

/** The fold as it was before snapshots: every event of the queue stream, from the start. */
const fullFold = async (store: EventStore, upTo?: bigint): Promise<ResourceQueueState> => {
  let state = initialResourceQueue();
  for (const r of await store.readStream(stream)) {
    if (upTo !== undefined && r.streamRevision > upTo) break;
    state = evolveResourceQueue(state, decodeEvent(r) as ResourceEvent);
  }
  return state;
};

const queueEventArb = fc.record({
  type: fc.constantFrom(
    'ResourceOperationQueued',
    'ResourceOperationStarted',
    'ResourceOperationFinished',
  ),
  // A small pool: repeats, starts of ids not queued, finishes of ids not held all happen.
  operationId: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
});

/** A history in chunks, each appended then (maybe) loaded by one of a few processes. */
const stepArb = fc.record({
  events: fc.array(queueEventArb, { minLength: 0, maxLength: 40 }),
  /** Which process loads after the chunk: an engine's decoder, or a new one (a new process). */
  loader: fc.oneof(fc.constant('new' as const), fc.nat({ max: 2 })),
});

describe('resource queue snapshots', () => {
  it('property: for random histories, loading from the newest snapshot and the events after it gives the state and revision of the full fold, in warm and new processes alike', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 12 }), async (steps) => {
        const store = createInMemoryEventStore();
        const processes = [createEventDecoder(), createEventDecoder(), createEventDecoder()];
        for (const { events, loader } of steps) {
          if (events.length > 0) {
            await store.append(
              stream,
              events.map(({ type, operationId }) =>
                encodeEvent({ type, data: { operationId, at } } as ResourceEvent),
              ),
            );
          }
          const decode = loader === 'new' ? createEventDecoder() : processes[loader]!;
          const loaded = await loadResourceQueue(store, decode, stream, () => at);
          const all = await store.readStream(stream);
          expect(loaded.state).toEqual(await fullFold(store));
          expect(loaded.revision).toBe(BigInt(all.length - 1));
          expect(loaded.lastPosition).toBe(all.at(-1)?.globalPosition ?? 0n);
        }
        // Every snapshot is the full fold up to its revision, and they only move forwards.
        let previous = -1n;
        for (const r of await store.readStream(resourceSnapshotStreamName(stream))) {
          const snapshot = decodeEvent(r);
          if (snapshot.type !== 'ResourceQueueSnapshotted') throw new Error(snapshot.type);
          const upTo = BigInt(snapshot.data.upTo);
          expect(upTo - previous).toBeGreaterThanOrEqual(RESOURCE_SNAPSHOT_EVERY);
          expect(evolveResourceQueue(initialResourceQueue(), snapshot)).toEqual(
            await fullFold(store, upTo),
          );
          previous = upTo;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: engines racing on a resource whose history crosses a snapshot boundary run its operations one at a time in request order', async () => {
    let snapshotsWritten = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        // Past operations: 45 to 57 queue events, so the race crosses revision 49 or 99.
        fc.integer({ min: 15, max: 19 }),
        fc.boolean(),
        fc.array(fc.nat({ max: 2 }), { minLength: 2, maxLength: 6 }),
        async (s, past, warm, engineOf) => {
          const inner = createInMemoryEventStore();
          await fillResourceHistory(inner, stream, past, 7);
          const journal: string[] = [];
          const store: EventStore = {
            ...inner,
            append: async (name, events, options) => {
              await s.schedule(Promise.resolve(), `append to ${name}`);
              return inner.append(name, events, options);
            },
            readStream: async (name, options) => {
              await s.schedule(Promise.resolve(), `read ${name}`);
              return inner.readStream(name, options);
            },
          };
          const op = defineOperation({
            type: 'deploy',
            steps: [
              step({
                name: 'work',
                run: async ({ operationId }) => {
                  journal.push(`start ${operationId}`);
                  await s.schedule(Promise.resolve(), `work of ${operationId}`);
                  journal.push(`end ${operationId}`);
                },
                undo: () => undefined,
              }),
            ],
          });
          const engines = [0, 1, 2].map((i) =>
            createEngine({
              store,
              operations: [op],
              clock: createVirtualClock(),
              ids: createSequentialIds(`e${i}-`),
            }),
          );
          if (warm) {
            // One engine already knows the resource (a warm process), the others meet it now.
            const first = await s.waitFor(engines[0]!.start(request()));
            await s.waitFor(first.result);
          }
          const resolved = new Set<string>();
          const before: { id: string; resolved: Set<string> }[] = [];
          const calls = engineOf.map(async (e, i) => {
            await s.schedule(Promise.resolve(), `start request ${i}`);
            const seen = new Set(resolved);
            const handle = await engines[e]!.start(request());
            resolved.add(handle.id);
            before.push({ id: handle.id, resolved: seen });
            return handle.result;
          });
          const results = await s.waitFor(Promise.all(calls));
          expect(results.map((r) => r.status)).toEqual(results.map(() => 'succeeded'));

          const order = await requestOrder(inner, 'production', { type: 'app', handle: 'web' });
          expect(order.slice(0, past)).toEqual(
            Array.from({ length: past }, (_, i) => pastOperationId(i)),
          );
          const raced = order.slice(past);
          expect(runOrder(journal, raced)).toEqual(raced);
          for (const { id, resolved: done } of before) {
            for (const earlier of done) {
              expect(raced.indexOf(earlier), `${earlier} before ${id}`).toBeLessThan(
                raced.indexOf(id),
              );
            }
          }
          // Every process, new or warm, reads the state of the full fold.
          const fresh = await loadResourceQueue(inner, createEventDecoder(), stream);
          expect(fresh.state).toEqual(await fullFold(inner));
          expect(fresh.state).toEqual({ waiting: [] });
          snapshotsWritten += (await inner.readStream(resourceSnapshotStreamName(stream))).length;
        },
      ),
      { numRuns: 150 },
    );
    // The races did cross snapshots (not a vacuous pass).
    expect(snapshotsWritten).toBeGreaterThan(0);
  });
});
