import { describe, expect, it } from 'vitest';
import { createInMemoryEventStore, type EventStore } from '../../src/index.js';
import { createEventDecoder, decodeEvent, encodeEvent } from '../../src/domain/event-codec.js';
import {
  evolveResourceQueue,
  isResourceSnapshotDue,
  RESOURCE_SNAPSHOT_EVERY,
  resourceQueueSnapshot,
} from '../../src/domain/resource-queue.js';
import { resourceSnapshotStreamName, resourceStreamName } from '../../src/domain/stream-names.js';
import { loadResourceQueue } from '../../src/engine/resource-queue-stream.js';
import { fillResourceHistory, pastOperationId } from '../../bench/lib/resource-history.js';

const at = '2026-01-05T10:00:00.000Z';
const stream = resourceStreamName('production', { type: 'app', handle: 'web' });
const snapshots = resourceSnapshotStreamName(stream);

/** A queue whose past has ended, then one operation holding it and one waiting. */
const withLiveTail = async (store: EventStore, past: number) => {
  await fillResourceHistory(store, stream, past);
  for (const [type, operationId] of [
    ['ResourceOperationQueued', 'live-1'],
    ['ResourceOperationQueued', 'live-2'],
    ['ResourceOperationStarted', 'live-1'],
  ] as const) {
    await store.append(stream, [encodeEvent({ type, data: { operationId, at } })]);
  }
};

describe('resource queue snapshots', () => {
  it('are due once RESOURCE_SNAPSHOT_EVERY events are folded past the newest one', () => {
    const every = RESOURCE_SNAPSHOT_EVERY;
    expect(isResourceSnapshotDue(every - 1n, -1n)).toBe(true);
    expect(isResourceSnapshotDue(every - 2n, -1n)).toBe(false);
    expect(isResourceSnapshotDue(99n + every, 99n)).toBe(true);
    expect(isResourceSnapshotDue(98n + every, 99n)).toBe(false);
  });

  it('give back, through the codec, the state they were taken of, with or without a holder', () => {
    for (const state of [{ waiting: [] }, { waiting: ['a', 'b'], holder: 'a' }]) {
      const stored = encodeEvent(resourceQueueSnapshot(state, 299n, 1200n, at));
      const decoded = decodeEvent({
        ...stored,
        streamName: snapshots,
        streamRevision: 0n,
        globalPosition: 1n,
        recordedAt: new Date(at),
      });
      expect(decoded.type).toBe('ResourceQueueSnapshotted');
      expect(evolveResourceQueue({ waiting: ['x'], holder: 'x' }, decoded as never)).toEqual(state);
    }
  });

  it('a new process reads the newest snapshot and the events after it: holder and waiting as the full fold has them', async () => {
    const store = createInMemoryEventStore();
    await withLiveTail(store, 40);
    // The first process folds all 123 events and writes the first snapshot.
    const first = await loadResourceQueue(store, createEventDecoder(), stream, () => at);
    expect(first.state).toEqual({ waiting: ['live-1', 'live-2'], holder: 'live-1' });
    const [written] = await store.readStream(snapshots);
    expect(written?.data).toMatchObject({ upTo: '122', waiting: ['live-1', 'live-2'] });

    let read = 0;
    const counting: EventStore = {
      ...store,
      readStream: async (name, options) => {
        const events = await store.readStream(name, options);
        read += events.length;
        return events;
      },
    };
    const fresh = await loadResourceQueue(counting, createEventDecoder(), stream);
    expect(fresh).toEqual(first);
    expect(read).toBe(1);
  });

  it('something other than a snapshot in the snapshot stream: the queue is folded from its start', async () => {
    const store = createInMemoryEventStore();
    await withLiveTail(store, 5);
    await store.append(snapshots, [
      encodeEvent({ type: 'ResourceOperationQueued', data: { operationId: 'stray', at } }),
    ]);
    const loaded = await loadResourceQueue(store, createEventDecoder(), stream);
    expect(loaded.state).toEqual({ waiting: ['live-1', 'live-2'], holder: 'live-1' });
    expect(loaded.revision).toBe(17n);
  });

  it('a store that refuses the snapshot (read-only, failing): the queue is still loaded, and tried again later', async () => {
    const store = createInMemoryEventStore();
    await fillResourceHistory(store, stream, 20);
    let refused = 0;
    const refusing: EventStore = {
      ...store,
      append: async (name, events, options) => {
        if (name === snapshots) {
          refused += 1;
          throw new Error('read-only');
        }
        return store.append(name, events, options);
      },
    };
    const decode = createEventDecoder();
    const loaded = await loadResourceQueue(refusing, decode, stream);
    expect(loaded.state).toEqual({ waiting: [] });
    expect(loaded.revision).toBe(59n);
    await store.append(stream, [
      encodeEvent({
        type: 'ResourceOperationQueued',
        data: { operationId: pastOperationId(20), at },
      }),
    ]);
    expect((await loadResourceQueue(refusing, decode, stream)).state).toEqual({
      waiting: [pastOperationId(20)],
    });
    expect(refused).toBe(2);
    expect(await store.readStream(snapshots)).toEqual([]);
  });
});
