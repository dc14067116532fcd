import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  InvalidTransitionError,
  step,
  type EventStore,
} from '../../src/index.js';
import { encodeEvent } from '../../src/domain/event-codec.js';
import type { ResourceEvent } from '../../src/domain/events.js';
import { evolveResourceQueue, initialResourceQueue } from '../../src/domain/resource-queue.js';
import { resourceStreamName } from '../../src/domain/stream-names.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { request } from '../support/fixtures.js';
import { createCrashableStore } from '../support/crashable-store.js';
import { createGate } from '../support/gate.js';
import { requestOrder } from '../support/request-order.js';

const WEB = resourceStreamName('production', { type: 'app', handle: 'web' });
const AT = '2026-01-01T00:00:00.000Z';

const journalled = (journal: string[], gates = new Map<string, ReturnType<typeof createGate>>()) =>
  defineOperation({
    type: 'deploy',
    steps: [
      step({
        name: 'work',
        run: async ({ operationId }) => {
          journal.push(operationId);
          await gates.get(operationId)?.wait();
        },
        undo: () => undefined,
      }),
    ],
  });

const queueOf = async (store: EventStore) => {
  let state = initialResourceQueue();
  for (const e of await store.readStream(WEB)) {
    state = evolveResourceQueue(state, { type: e.type, data: e.data } as ResourceEvent);
  }
  return state;
};

/**
 * An engine over `store` whose appends of OperationRequested go through `hook` first. The store
 * it sees has no appendToStreams (like EventStoreDB's), so that a request is the two appends
 * these tests look between.
 */
const engineWithHook = (
  store: EventStore,
  operations: Parameters<typeof createEngine>[0]['operations'],
  hook: () => Promise<void>,
  ids = createSequentialIds('op-'),
) =>
  createEngine({
    store: {
      ...store,
      appendToStreams: undefined,
      append: async (stream, events, options) => {
        if (events.some((e) => e.type === 'OperationRequested')) await hook();
        return store.append(stream, events, options);
      },
    },
    operations,
    clock: createVirtualClock(),
    ids,
  });

describe('request order on a store with appendToStreams: place and operation in one write', () => {
  it('writes the place and the operation together, the place first, and nothing else', async () => {
    const inner = createInMemoryEventStore();
    const calls: string[][] = [];
    const store: EventStore = {
      ...inner,
      append: (stream, events, options) => {
        calls.push([stream]);
        return inner.append(stream, events, options);
      },
      appendToStreams: (writes) => {
        calls.push(writes.map((w) => w.stream));
        return inner.appendToStreams!(writes);
      },
    };
    const engine = createEngine({
      store,
      operations: [journalled([])],
      clock: createVirtualClock(),
      ids: createSequentialIds('op-'),
    });
    const handle = await engine.start(request());
    expect(calls[0]).toEqual([WEB, `operation-${handle.id}`]);
    const all = await inner.readAll();
    expect(all.slice(0, 2).map((e) => [e.streamName, e.type])).toEqual([
      [WEB, 'ResourceOperationQueued'],
      [`operation-${handle.id}`, 'OperationRequested'],
    ]);
    expect((await handle.result).status).toBe('succeeded');
  });

  it('leaves no place behind when the write fails, so nothing needs giving back', async () => {
    const inner = createInMemoryEventStore();
    let fail = true;
    const journal: string[] = [];
    const store: EventStore = {
      ...inner,
      appendToStreams: async (writes) => {
        if (fail) {
          fail = false;
          throw new Error('the store is down');
        }
        return inner.appendToStreams!(writes);
      },
    };
    const engine = createEngine({
      store,
      operations: [journalled(journal)],
      clock: createVirtualClock(),
      ids: createSequentialIds('op-'),
    });
    await expect(engine.start(request())).rejects.toThrow('the store is down');
    expect(await inner.readAll()).toEqual([]);
    const next = await engine.start(request());
    expect((await next.result).status).toBe('succeeded');
    expect(journal).toEqual([next.id]);
  });

  it('refuses an id that is another operation’s, writing no place for it', async () => {
    const store = createInMemoryEventStore();
    const gates = new Map([['same', createGate()]]);
    const engine = createEngine({
      store,
      operations: [journalled([], gates)],
      clock: createVirtualClock(),
      ids: () => 'same',
    });
    const first = await engine.start(request());
    await expect(engine.start(request())).rejects.toBeInstanceOf(InvalidTransitionError);
    const places = (await store.readStream(WEB)).filter(
      (e) => e.type === 'ResourceOperationQueued',
    );
    expect(places).toHaveLength(1);
    gates.get('same')!.open();
    expect((await first.result).status).toBe('succeeded');
  });
});

describe('request order: the place a start() takes in its resource queue', () => {
  it('reads queues the previous version wrote (operation first, then its place; a crash between left none) and keeps their order', async () => {
    const store = createInMemoryEventStore();
    const requested = (id: string) =>
      store.append(`operation-${id}`, [
        encodeEvent({
          type: 'OperationRequested',
          data: {
            operationId: id,
            type: 'deploy',
            environment: 'production',
            resource: { type: 'app', handle: 'web' },
            user: 'ada@example.com',
            params: {},
            createdAt: AT,
            steps: [{ name: 'work', kind: 'undoable' }],
          },
        }),
      ]);
    const queued = (id: string) =>
      store.append(WEB, [
        encodeEvent({ type: 'ResourceOperationQueued', data: { operationId: id, at: AT } }),
      ]);
    // The previous version: OperationRequested, then ResourceOperationQueued, with no other
    // field; 'old-2' died between the two.
    await requested('old-1');
    await requested('old-2');
    await queued('old-1');
    await requested('old-3');
    await queued('old-3');

    const journal: string[] = [];
    const engine = createEngine({
      store,
      operations: [journalled(journal)],
      clock: createVirtualClock(),
      ids: createSequentialIds('new-'),
    });
    const recovered = await engine.recover();
    expect(recovered.map((r) => [r.id, r.status])).toEqual([
      ['old-1', 'succeeded'],
      ['old-2', 'succeeded'],
      ['old-3', 'succeeded'],
    ]);
    const next = await engine.start(request());
    await next.result;
    // 'old-2' gets its place when recovery finds it without one, behind those that had one.
    expect(await requestOrder(store, 'production', { type: 'app', handle: 'web' })).toEqual([
      'old-1',
      'old-3',
      'old-2',
      next.id,
    ]);
    expect(journal).toEqual(['old-1', 'old-3', 'old-2', next.id]);
  });

  it('takes the place before writing the operation, and gives it back when the operation cannot be written', async () => {
    const store = createInMemoryEventStore();
    let fail = true;
    const journal: string[] = [];
    const engine = engineWithHook(store, [journalled(journal)], async () => {
      // At this point the place is taken and the operation not written yet.
      expect((await queueOf(store)).waiting.length).toBeGreaterThan(0);
      if (fail) {
        fail = false;
        throw new Error('the store is down');
      }
    });
    await expect(engine.start(request())).rejects.toThrow('the store is down');
    expect(await queueOf(store)).toEqual({ waiting: [] });
    const next = await engine.start(request());
    expect((await next.result).status).toBe('succeeded');
    expect(journal).toEqual([next.id]);
  });

  it('keeps the place of a start() of its own engine that is between its two writes when recover() runs', async () => {
    const store = createInMemoryEventStore();
    const between = createGate();
    const journal: string[] = [];
    const engine = engineWithHook(store, [journalled(journal)], () => between.wait());
    const starting = engine.start(request());
    await new Promise((resolve) => setImmediate(resolve));
    expect(between.entered).toBe(true);
    expect(await engine.recover()).toEqual([]);
    expect((await queueOf(store)).waiting).toHaveLength(1);
    between.open();
    const handle = await starting;
    expect((await handle.result).status).toBe('succeeded');
    expect(journal).toEqual([handle.id]);
  });

  it('leaves the place alone when the id is another operation’s (an id generator that repeats)', async () => {
    const store = createInMemoryEventStore();
    const gates = new Map([['same', createGate()]]);
    const journal: string[] = [];
    const engine = engineWithHook(
      store,
      [journalled(journal, gates)],
      async () => undefined,
      () => 'same',
    );
    const first = await engine.start(request());
    await new Promise((resolve) => setImmediate(resolve));
    await expect(engine.start(request())).rejects.toBeInstanceOf(InvalidTransitionError);
    expect(await queueOf(store)).toEqual({ waiting: ['same'], holder: 'same' });
    gates.get('same')!.open();
    expect((await first.result).status).toBe('succeeded');
  });

  it('recover({ operationIds }) drops a place with no operation ahead of them, left by the process that died', async () => {
    const inner = createInMemoryEventStore();
    const dying = createCrashableStore(inner);
    const never = createGate();
    let first = true;
    const journal: string[] = [];
    const dead = engineWithHook(dying, [journalled(journal)], async () => {
      if (first) {
        first = false;
        await never.wait();
      }
    });
    // The first start() stops between its writes; the second is queued behind its place.
    void dead.start(request()).catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    expect(never.entered).toBe(true);
    const queued = await dead.start(request());
    dying.crash();
    await queued.result.catch(() => undefined);
    expect((await queueOf(inner)).waiting).toHaveLength(2);

    const successor = createEngine({
      store: inner,
      operations: [journalled(journal)],
      clock: createVirtualClock(),
      ids: createSequentialIds('later-'),
    });
    const recovered = await successor.recover({ operationIds: [queued.id] });
    expect(recovered.map((r) => [r.id, r.status])).toEqual([[queued.id, 'succeeded']]);
    expect(journal).toEqual([queued.id]);
    expect(await queueOf(inner)).toEqual({ waiting: [] });
  });
});
