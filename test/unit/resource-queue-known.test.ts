import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  type EventData,
  type EventStore,
} from '../../src/index.js';
import { ConcurrencyError } from '../../src/domain/errors.js';
import { resourceSnapshotStreamName, resourceStreamName } from '../../src/domain/stream-names.js';
import { request } from '../support/fixtures.js';

// The engine decides a claim and a release on its own state of the resource's queue when it
// knows it (its own appends noted as they land), appending at that state's revision: no read
// of the queue, and the store refuses the append if anything was appended since, after which
// the engine reads and decides again, as it always did.

const queue = resourceStreamName('production', { type: 'app', handle: 'web' });
const deploy = defineOperation({
  type: 'deploy',
  steps: [step({ name: 'work', run: () => undefined, undo: () => undefined })],
});

const entry = (type: string, operationId: string): EventData => ({
  type,
  version: 1,
  data: { operationId, at: '2026-12-04T22:00:00.000Z' },
});

/**
 * A memory store (without its synchronous paths, so every call is seen) that counts reads of
 * the queue stream and lets a test append, as another process would, just before one of the
 * engine's appends to the queue reaches the store.
 */
const racingStore = () => {
  const inner = createInMemoryEventStore();
  let queueReads = 0;
  let refusedSnapshots = 0;
  const before: {
    when: (type: string, operationId: string) => boolean;
    run: (operationId: string) => Promise<unknown>;
  }[] = [];
  const store: EventStore = {
    ...inner,
    readStream: async (name, options) => {
      if (name === queue) queueReads += 1;
      return inner.readStream(name, options);
    },
    append: async (name, events, options) => {
      if (name === queue) {
        const { type, data } = events[0]!;
        const operationId = (data as { operationId: string }).operationId;
        const hook = before.findIndex((b) => b.when(type, operationId));
        if (hook >= 0) await before.splice(hook, 1)[0]!.run(operationId);
      }
      try {
        return await inner.append(name, events, options);
      } catch (error) {
        if (name === resourceSnapshotStreamName(queue) && error instanceof ConcurrencyError) {
          refusedSnapshots += 1;
        }
        throw error;
      }
    },
  };
  const queueEvents = async () =>
    (await inner.readStream(queue)).map(
      (e) => `${e.type}:${(e.data as { operationId: string }).operationId}`,
    );
  return {
    inner,
    store,
    queueReads: () => queueReads,
    refusedSnapshots: () => refusedSnapshots,
    before,
    queueEvents,
  };
};

/** A racing store and an engine that has run one operation on the resource: it knows the queue. */
const afterOneOperation = async () => {
  const racing = racingStore();
  const engine = createEngine({ store: racing.store, operations: [deploy] });
  expect((await (await engine.start(request())).result).status).toBe('succeeded');
  return { ...racing, engine };
};

describe('claims and releases decided on the engine’s own state of the queue', () => {
  it('runs operations on a resource it knows without reading the resource’s queue', async () => {
    const { store, queueReads, queueEvents } = racingStore();
    const engine = createEngine({ store, operations: [deploy] });
    const first = await engine.start(request());
    expect((await first.result).status).toBe('succeeded');
    // The first meets the queue: it reads it (and its snapshot stream) once.
    const afterFirst = queueReads();
    expect(afterFirst).toBeGreaterThan(0);
    const later = [];
    for (let i = 0; i < 3; i++) {
      const handle = await engine.start(request());
      expect((await handle.result).status).toBe('succeeded');
      later.push(handle.id);
    }
    // Before, each operation read the queue twice: before its claim and before its release.
    expect(queueReads()).toBe(afterFirst);
    expect(await queueEvents()).toEqual(
      [first.id, ...later].flatMap((id) => [
        `ResourceOperationQueued:${id}`,
        `ResourceOperationStarted:${id}`,
        `ResourceOperationFinished:${id}`,
      ]),
    );
    await engine.shutdown();
  });

  it('does not claim a resource that another process claimed since: it reads, waits, then claims', async () => {
    const { inner, before, queueReads, queueEvents, engine } = await afterOneOperation();
    const readsBefore = queueReads();
    // Just before this engine's claim, another process takes the resource for `other`.
    let release: () => Promise<unknown> = async () => undefined;
    const otherHolds = new Promise<void>((resolve) => {
      before.push({
        when: (type) => type === 'ResourceOperationStarted',
        run: async () => {
          await inner.append(queue, [entry('ResourceOperationStarted', 'other')]);
          release = () => inner.append(queue, [entry('ResourceOperationFinished', 'other')]);
          resolve();
        },
      });
    });
    const handle = await engine.start(request());
    await otherHolds;
    // The refused claim sent the engine back to reading, and the holder keeps it waiting.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(queueReads()).toBeGreaterThan(readsBefore);
    expect(await queueEvents()).not.toContain(`ResourceOperationStarted:${handle.id}`);
    await release();
    expect((await handle.result).status).toBe('succeeded');
    const events = await queueEvents();
    expect(events.indexOf(`ResourceOperationStarted:${handle.id}`)).toBeGreaterThan(
      events.indexOf('ResourceOperationFinished:other'),
    );
    expect(events.filter((e) => e.startsWith('ResourceOperationStarted:'))).toHaveLength(3);
    await engine.shutdown();
  });

  it('gives the resource up once after a refused release, and not at all when it was dropped meanwhile', async () => {
    const { inner, before, queueEvents, engine } = await afterOneOperation();

    // Another request lands before the release: refused at the known revision, then made on a read.
    before.push({
      when: (type) => type === 'ResourceOperationFinished',
      run: () => inner.append(queue, [entry('ResourceOperationQueued', 'next')]),
    });
    const second = await engine.start(request());
    expect((await second.result).status).toBe('succeeded');
    expect((await queueEvents()).slice(-3)).toEqual([
      `ResourceOperationStarted:${second.id}`,
      'ResourceOperationQueued:next',
      `ResourceOperationFinished:${second.id}`,
    ]);

    // Another process drops the third operation from the queue (as recover() does for an
    // operation it finds ended) just before its release: the release then appends nothing.
    const {
      inner: inner2,
      before: before2,
      queueEvents: events2,
      engine: engine2,
    } = await afterOneOperation();
    before2.push({
      when: (type) => type === 'ResourceOperationFinished',
      run: (operationId) => inner2.append(queue, [entry('ResourceOperationFinished', operationId)]),
    });
    const handle = await engine2.start(request());
    const third = handle.id;
    expect((await handle.result).status).toBe('succeeded');
    expect(before2).toHaveLength(0);
    expect(
      (await events2()).filter((e) => e === `ResourceOperationFinished:${third}`),
    ).toHaveLength(1);
    await engine.shutdown();
    await engine2.shutdown();
  });

  // Found by a review of the first version: the release made on a read appended with no
  // expected version, so a drop between that read and the append still made a second Finished.
  it('gives the resource up once when a drop races the release made on a read', async () => {
    const { inner, before, queueEvents, engine } = await afterOneOperation();
    // The release on the known state is refused (another request lands first) ...
    before.push({
      when: (type) => type === 'ResourceOperationFinished',
      run: () => inner.append(queue, [entry('ResourceOperationQueued', 'next')]),
    });
    // ... and another process drops the operation between the read and the next append.
    before.push({
      when: (type) => type === 'ResourceOperationFinished',
      run: (operationId) => inner.append(queue, [entry('ResourceOperationFinished', operationId)]),
    });
    const handle = await engine.start(request());
    expect((await handle.result).status).toBe('succeeded');
    expect(before).toHaveLength(0);
    const finished = (await queueEvents()).filter(
      (e) => e === `ResourceOperationFinished:${handle.id}`,
    );
    expect(finished).toHaveLength(1);
    await engine.shutdown();
  });

  // Found by the same review: a load that wrote a snapshot while the engine noted its own append
  // kept the noted state, which did not know the snapshot, and the next snapshot was refused.
  it('remembers a snapshot it wrote while its own appends moved the queue on', async () => {
    const { store, queueEvents, refusedSnapshots } = racingStore();
    const engine = createEngine({ store, operations: [deploy] });
    const handles = [];
    for (let i = 0; i < 60; i++) {
      handles.push(await engine.start(request()));
      if (i % 2 === 1) await Promise.all(handles.map((h) => h.result));
    }
    await Promise.all(handles.map((h) => h.result));
    expect(await queueEvents()).toHaveLength(180);
    // One engine alone on the store: none of its snapshots can lose a race.
    expect(refusedSnapshots()).toBe(0);
    await engine.shutdown();
  });
});
