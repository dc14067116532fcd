import { describe, expect, it } from 'vitest';
import {
  ConcurrencyError,
  createInMemoryEventStore,
  StoreUnavailableError,
  type EventData,
  type EventStore,
} from '../../src/index.js';
import type { StreamWrite } from '../../src/domain/event-store.js';
import { AppendOutcomeUnknownError, withStoreOutageRetry } from '../../src/engine/index.js';
import { createVirtualClock } from '../../src/testing/index.js';
import { faultScript, faultyEventStore, type Fault } from '../support/faulty-stores.js';
import { createOutageStore } from '../support/outage-store.js';

// The atomic append to several streams (appendToStreams) behind the outage decorator (issues
// 17 and 20): after a failure whose outcome is unknown, the whole write is found, or none of it.

const event = (tag: string): EventData => ({
  type: 'Thing',
  version: 1,
  data: { tag, at: '2026-01-05T00:00:00.000Z', nested: { b: 1, a: [tag] } },
});

const tags = async (store: EventStore, stream: string) =>
  (await store.readStream(stream)).map((e) => (e.data as { tag: string }).tag);

const setupStore = (maxMs = 60_000) => {
  const clock = createVirtualClock();
  const inner = createInMemoryEventStore();
  const flaky = createOutageStore(inner, clock);
  const store = withStoreOutageRetry(flaky, { maxMs, clock, random: () => 0.5 });
  return { clock, inner, flaky, store };
};

/** The engine's request: a place in a queue (any revision) and a new operation stream. */
const requestWrite = (id: string): StreamWrite[] => [
  { stream: 'queue', events: [event(`place ${id}`)], expectedVersion: 'any' },
  {
    stream: `op-${id}`,
    events: [event(`requested ${id}`), event(`note ${id}`)],
    expectedVersion: 'no_stream',
  },
];

/** What the store holds of each part of `writes`: its results, as the store would give them. */
const recordedResults = async (inner: EventStore, writes: readonly StreamWrite[]) =>
  Promise.all(
    writes.map(async (w) => {
      const recorded = await inner.readStream(w.stream);
      const last = recorded.findLast(
        (e) => (e.data as { tag: string }).tag === (w.events.at(-1)!.data as { tag: string }).tag,
      )!;
      return { nextExpectedRevision: last.streamRevision, lastPosition: last.globalPosition };
    }),
  );

describe('appendToStreams behind the outage decorator', () => {
  it('is offered when the store offers it, and only then', () => {
    const { store } = setupStore();
    expect(typeof store.appendToStreams).toBe('function');
    const clock = createVirtualClock();
    const without = createOutageStore(
      { ...createInMemoryEventStore(), appendToStreams: undefined },
      clock,
    );
    expect(withStoreOutageRetry(without, { clock }).appendToStreams).toBeUndefined();
  });

  it('writes through an outage that refused it, once', async () => {
    const { flaky, store, inner } = setupStore();
    await inner.append('queue', [event('someone else')]);
    flaky.downFor(5_000);
    const writes = requestWrite('1');
    const results = await store.appendToStreams!(writes);
    expect(await tags(inner, 'queue')).toEqual(['someone else', 'place 1']);
    expect(await tags(inner, 'op-1')).toEqual(['requested 1', 'note 1']);
    expect(results).toEqual(await recordedResults(inner, writes));
    expect(flaky.calls.appendToStreams).toBeGreaterThan(1);
  });

  it('returns what a committed write whose answer was lost wrote, without writing it again', async () => {
    const { flaky, store, inner } = setupStore();
    await inner.append('queue', [event('someone else')]);
    flaky.loseAnswers(1);
    const writes = requestWrite('1');
    const results = await store.appendToStreams!(writes);
    expect(await tags(inner, 'queue')).toEqual(['someone else', 'place 1']);
    expect(await tags(inner, 'op-1')).toEqual(['requested 1', 'note 1']);
    expect(results).toEqual(await recordedResults(inner, writes));
    // Found before any new attempt: one call only.
    expect(flaky.calls.appendToStreams).toBe(1);
  });

  it('never writes twice a write with no expected revision, which a new attempt would repeat', async () => {
    const { flaky, store, inner } = setupStore();
    flaky.loseAnswers(2);
    const writes: StreamWrite[] = [
      { stream: 'a', events: [event('a1')] },
      { stream: 'b', events: [event('b1'), event('b2')], expectedVersion: 'any' },
      { stream: 'a', events: [event('a2')], expectedVersion: 'stream_exists' },
    ];
    const results = await store.appendToStreams!(writes);
    expect(await tags(inner, 'a')).toEqual(['a1', 'a2']);
    expect(await tags(inner, 'b')).toEqual(['b1', 'b2']);
    expect(results).toEqual(await recordedResults(inner, writes));
    expect(flaky.calls.appendToStreams).toBe(1);
  });

  it('finds its write among others appended to the same streams since', async () => {
    const clock = createVirtualClock();
    const inner = createInMemoryEventStore();
    const flaky = createOutageStore(inner, clock);
    // Another writer appends to the queue between the lost answer and the check.
    const racing: EventStore = {
      ...flaky,
      appendToStreams: async (writes) => {
        try {
          return await flaky.appendToStreams!(writes);
        } finally {
          await inner.append('queue', [event('other 1'), event('other 2')]);
        }
      },
    };
    const store = withStoreOutageRetry(racing, { clock });
    flaky.loseAnswers(1);
    const writes = requestWrite('1');
    const results = await store.appendToStreams!(writes);
    expect(await tags(inner, 'queue')).toEqual(['place 1', 'other 1', 'other 2']);
    expect(await tags(inner, 'op-1')).toEqual(['requested 1', 'note 1']);
    expect(results).toEqual(await recordedResults(inner, writes));
  });

  it('tells a write that did not land from another writer’s: a ConcurrencyError, nothing written', async () => {
    const { flaky, store, inner } = setupStore();
    // Refused by the outage (not committed); meanwhile another writer created the stream.
    flaky.downFor(1_000);
    const pending = store.appendToStreams!(requestWrite('1'));
    await inner.append('op-1', [event('theirs')], { expectedVersion: 'no_stream' });
    await expect(pending).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await tags(inner, 'op-1')).toEqual(['theirs']);
    expect(await tags(inner, 'queue')).toEqual([]);
  });

  it('does not take another writer’s events at an exact place for its own when only some match', async () => {
    const { flaky, inner } = setupStore();
    await inner.append('queue', [event('place 1')]);
    // A lost answer of an attempt that was in fact refused (the stream moved first).
    const lying: EventStore = {
      ...flaky,
      appendToStreams: async () => {
        throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
      },
    };
    const store = withStoreOutageRetry(lying, { clock: createVirtualClock(), maxMs: 1_000 });
    // The queue holds an equal place, but the operation stream is not there: none landed, so
    // the decorator tries again (and gives up with the outage), never reporting a success.
    await expect(store.appendToStreams!(requestWrite('1'))).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    expect(await tags(inner, 'op-1')).toEqual([]);
  });

  it('fails with AppendOutcomeUnknownError when parts are found and parts not, writing nothing more', async () => {
    const clock = createVirtualClock();
    const inner = createInMemoryEventStore();
    const flaky = createOutageStore(inner, clock);
    // More than the search window is appended to the queue before the check.
    const busy: EventStore = {
      ...flaky,
      appendToStreams: async (writes) => {
        try {
          return await flaky.appendToStreams!(writes);
        } finally {
          await inner.append(
            'queue',
            Array.from({ length: 250 }, (_, i) => event(`other ${i}`)),
          );
        }
      },
    };
    const store = withStoreOutageRetry(busy, { clock });
    flaky.loseAnswers(1);
    const error = await store.appendToStreams!([
      { stream: 'queue', events: [event('place 1')] },
      { stream: 'log', events: [event('line 1')] },
    ]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppendOutcomeUnknownError);
    expect((error as Error).name).toBe('AppendOutcomeUnknownError');
    expect(error).toMatchObject({
      code: 'APPEND_OUTCOME_UNKNOWN',
      streams: ['queue', 'log'],
      notFound: ['queue'],
    });
    expect(flaky.calls.appendToStreams).toBe(1);
    expect((await tags(inner, 'queue')).filter((t) => t === 'place 1')).toHaveLength(1);
    expect(await tags(inner, 'log')).toEqual(['line 1']);
  });

  it('answers a part that only checks a revision as the store did', async () => {
    const { flaky, store, inner } = setupStore();
    await inner.append('s', [event('s0')]);
    const writes: StreamWrite[] = [
      { stream: 's', events: [], expectedVersion: 0n },
      { stream: 't', events: [event('t0')], expectedVersion: 'no_stream' },
    ];
    flaky.loseAnswers(1);
    const results = await store.appendToStreams!(writes);
    const [s0] = await inner.readStream('s');
    expect(results[0]).toEqual({ nextExpectedRevision: 0n, lastPosition: s0!.globalPosition });
    expect(results[1]).toEqual((await recordedResults(inner, writes.slice(1)))[0]);
  });

  it('gives up past the budget with a StoreUnavailableError naming the call, having written nothing', async () => {
    const { flaky, store, inner } = setupStore(10_000);
    flaky.downFor(60_000);
    const error = await store.appendToStreams!(requestWrite('1')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).toMatchObject({ call: 'appendToStreams', unreachableMs: 10_000 });
    expect(await inner.readAll()).toEqual([]);
  });

  it('passes on an error that is not transient at once', async () => {
    const { flaky, store, inner } = setupStore();
    await inner.append('op-1', [event('theirs')]);
    await expect(store.appendToStreams!(requestWrite('1'))).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect(flaky.calls.appendToStreams).toBe(1);
  });

  it('finds a write that lost its answer, with the checks themselves meeting faults', async () => {
    const faults: Fault[] = ['lost', 'refuse', 'lost', 'refuse', 'refuse'];
    const inner = createInMemoryEventStore();
    const script = faultScript(faults);
    const store = withStoreOutageRetry(faultyEventStore(inner, script), {
      clock: createVirtualClock(),
    });
    const writes = requestWrite('1');
    const results = await store.appendToStreams!(writes);
    expect(script.used).toBe(faults.length);
    expect(await tags(inner, 'queue')).toEqual(['place 1']);
    expect(await tags(inner, 'op-1')).toEqual(['requested 1', 'note 1']);
    expect(results).toEqual(await recordedResults(inner, writes));
  });
});
