import fc from 'fast-check';
import { Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { encodeEvent, createEventDecoder } from '../../src/domain/event-codec.js';
import type {
  EventStore,
  ReadAllOptions,
  RecordedEvent,
  SubscribeOptions,
} from '../../src/domain/event-store.js';
import type { DomainEvent } from '../../src/domain/events.js';
import { evolve, initialState } from '../../src/domain/operation.js';
import { decodeOperationEvent, loadOperation } from '../../src/engine/operation-stream.js';
import { spreadOldest } from '../../src/engine/worker/find-work.js';
import { createWorkIndex, WORK_EVENT_TYPES } from '../../src/engine/worker/work-index.js';
import {
  createClient,
  createInMemoryEventStore,
  createWorker,
  defineOperation,
  step,
} from '../../src/index.js';
import { request } from '../support/fixtures.js';

const decode = createEventDecoder();
const at = '2026-12-03T10:00:00.000Z';

const deploy = defineOperation({
  type: 'deploy',
  steps: [
    step({ name: 'pull', run: (ctx) => ctx.log('pulled'), undo: () => undefined }),
    step({ name: 'release', run: () => ({ ok: true }), undo: () => undefined }),
  ],
});

/** The store as the index sees it: what it was sent, and optionally a store that cannot filter. */
const watched = (store: EventStore, { canFilter = true } = {}) => {
  const sent: RecordedEvent[] = [];
  const strip = <O extends { types?: readonly string[] }>(o: O | undefined): O | undefined => {
    if (canFilter || !o) return o;
    const { types: _dropped, ...rest } = o;
    return rest as O;
  };
  const wrapped: EventStore = {
    ...store,
    readAll: async (o?: ReadAllOptions) => {
      const page = await store.readAll(strip(o));
      sent.push(...page);
      return page;
    },
    subscribe: (o?: SubscribeOptions): Observable<RecordedEvent> => {
      const source = store.subscribe(strip(o));
      return new Observable<RecordedEvent>((subscriber) =>
        source.subscribe({
          next: (r) => {
            sent.push(r);
            subscriber.next(r);
          },
          error: (e: unknown) => subscriber.error(e),
          complete: () => subscriber.complete(),
        }),
      );
    },
  };
  return { store: wrapped, sent };
};

const openIndex = async (store: EventStore) => {
  const failures: unknown[] = [];
  const index = createWorkIndex(
    store,
    decode,
    () => undefined,
    (e) => void failures.push(e),
  );
  await index.ready;
  return { index, failures };
};

/** A store with one finished operation (steps, logs) and two queued ones, for workers. */
const busyStore = async () => {
  const store = createInMemoryEventStore();
  const client = createClient({ store, operations: [deploy] });
  const worker = await createWorker({
    store,
    operations: [deploy],
    identity: 'w1',
    lease: { ttlMs: 300, renewEveryMs: 100 },
  });
  const done = await client.start(request({ resource: { type: 'app', handle: 'done' } }));
  await done.result;
  await worker.shutdown({ graceMs: 1_000 });
  const queued = await Promise.all(
    ['a', 'b'].map((handle) => client.start(request({ resource: { type: 'app', handle } }))),
  );
  return { store, queued: queued.map((h) => h.id), done: done.id };
};

describe("a worker's work index", () => {
  it('given a store full of step and log events, then it is sent only the events that change what is claimable', async () => {
    const { store: inner, queued } = await busyStore();
    const all = await inner.readAll();
    expect(all.some((e) => e.type === 'StepSucceeded' || e.type === 'LogWritten')).toBe(true);
    const { store, sent } = watched(inner);
    const { index, failures } = await openIndex(store);
    await inner.append('operation-x', [
      encodeEvent({ type: 'LogWritten', data: { level: 'info', message: 'noise', at } }),
    ]);
    await new Promise((r) => setTimeout(r, 10));

    expect(failures).toEqual([]);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.filter((e) => !WORK_EVENT_TYPES.includes(e.type as never))).toEqual([]);
    const work = all.filter((e) => WORK_EVENT_TYPES.includes(e.type as never));
    expect(work.length).toBeLessThan(all.length);
    expect(sent.map((e) => e.globalPosition)).toEqual(work.map((e) => e.globalPosition));
    expect([...index.operations.keys()].sort()).toEqual([...queued].sort());
    index.stop();
  });

  it('given a store that cannot filter, then it ends with the same operations, queues and leases', async () => {
    const { store: inner } = await busyStore();
    const filtered = await openIndex(watched(inner).store);
    const unfiltered = watched(inner, { canFilter: false });
    const whole = await openIndex(unfiltered.store);
    expect(unfiltered.sent.length).toBe((await inner.readAll()).length);
    expect(whole.failures).toEqual([]);
    expect(whole.index.operations).toEqual(filtered.index.operations);
    expect(whole.index.queues).toEqual(filtered.index.queues);
    expect(whole.index.leases).toEqual(filtered.index.leases);
    filtered.index.stop();
    whole.index.stop();
  });

  it('property: claimable(id) is the stream folded up to a revision the index saw every event of, and undefined once an event before it was left out', async () => {
    const extra = fc.constantFrom<DomainEvent>(
      { type: 'LogWritten', data: { level: 'info', message: 'note', at } },
      { type: 'CancellationRequested', data: { user: 'ada@example.com', at } },
      { type: 'OperationClaimed', data: { worker: 'w9', lease: 'l9', fence: 1, at } },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(extra, { maxLength: 4 }), async (events) => {
        const store = createInMemoryEventStore();
        const client = createClient({ store, operations: [deploy] });
        const { id } = await client.start(request());
        for (const e of events) await store.append(`operation-${id}`, [encodeEvent(e)]);
        const { index } = await openIndex(store);
        const loaded = await loadOperation(store, decode, id);
        // The index knows the stream up to its last work event: later ones make a claim's
        // append conflict; a left-out one before it means the index cannot vouch for the state.
        const isWork = (e: DomainEvent) => WORK_EVENT_TYPES.includes(e.type);
        const lastWork = events.findLastIndex(isWork);
        const whole = events.slice(0, lastWork + 1).every(isWork);
        const claimable = index.claimable(id);
        if (whole) {
          const prefix = await store.readStream(`operation-${id}`, { maxCount: lastWork + 2 });
          const prefixState = prefix.reduce(
            (state, r) => evolve(state, decodeOperationEvent(decode, r)),
            initialState(),
          );
          expect(claimable).toEqual({
            state: prefixState,
            revision: BigInt(lastWork + 1),
            lastPosition: prefix.at(-1)!.globalPosition,
          });
        } else {
          expect(claimable).toBeUndefined();
        }
        expect(index.operations.get(id)?.owner).toEqual(loaded.state.owner);
        index.stop();
      }),
      { numRuns: 30 },
    );
  });
});

describe('spreadOldest (the order a worker tries queue heads in)', () => {
  const arbitraries = [
    fc.array(fc.nat(), { maxLength: 40 }),
    fc.nat({ max: 20 }),
    fc.nat({ max: 5 }),
    fc.infiniteStream(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })),
  ] as const;

  it('property: only the room x live workers oldest are reordered, and none is lost or repeated', () => {
    fc.assert(
      fc.property(...arbitraries, (heads, room, live, randoms) => {
        const order = [...heads];
        const stream = randoms[Symbol.iterator]();
        spreadOldest(order, room, live, () => stream.next().value as number);
        const window = live < 2 ? 0 : Math.min(heads.length, room * live);
        expect([...order.slice(0, window)].sort()).toEqual([...heads.slice(0, window)].sort());
        expect(order.slice(window)).toEqual(heads.slice(window));
        if (live < 2) expect(order).toEqual(heads);
      }),
    );
  });

  it('given four live workers, then each tries the oldest heads in its own order', () => {
    const heads = Array.from({ length: 64 }, (_, i) => i);
    const orders = [0.1, 0.5, 0.9].map((seed) => {
      let x = seed;
      const order = [...heads];
      spreadOldest(order, 16, 4, () => (x = (x * 9301 + 0.49297) % 1));
      return order.join(',');
    });
    expect(new Set(orders).size).toBe(3);
  });
});
