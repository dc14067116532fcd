import { describe, expect, it, vi } from 'vitest';
import { finalize, tap } from 'rxjs';
import { createInMemoryEventStore } from '../../src/adapters/memory/index.js';
import { OperationCancelledError, OperationLostError } from '../../src/domain/errors.js';
import type { EventStore, RecordedEvent } from '../../src/domain/event-store.js';
import { defineOperation, step } from '../../src/domain/operation-definition.js';
import { initialState } from '../../src/domain/operation.js';
import { CancelWatch, KEEP_IDLE_MS, StreamWatch } from '../../src/engine/cancel-watch.js';
import { createEngine } from '../../src/engine/engine.js';
import type { OperationWriter } from '../../src/engine/operation-writer.js';

/** A watch whose stream events are handed to it by the test, in the order it chooses. */
const setUp = (fence?: number) => {
  let deliver: (r: RecordedEvent) => void = () => undefined;
  const streams = {
    watch: (_stream: string, _after: bigint, _from: bigint, listener: typeof deliver) => {
      deliver = listener;
      return () => undefined;
    },
  } as unknown as StreamWatch;
  const revoke = vi.fn();
  const writer = {
    id: 'op-1',
    fence,
    state: () => initialState(),
    snapshot: () => ({ state: initialState(), revision: 0n, lastPosition: 1n }),
    revoke,
  } as unknown as OperationWriter;
  const lost = new AbortController();
  const watch = new CancelWatch(createInMemoryEventStore(), writer, lost.signal, streams);
  const event = (type: string, data: unknown = {}): RecordedEvent => ({
    type,
    version: 1,
    data,
    streamName: 'operation-op-1',
    streamRevision: 1n,
    globalPosition: 2n,
    recordedAt: new Date(0),
  });
  return {
    watch,
    lost,
    revoke,
    cancel: () => deliver(event('CancellationRequested')),
    takeOver: (fence: number) => deliver(event('OperationTakenOver', { worker: 'w-2', fence })),
  };
};

describe('CancelWatch: abort signals', () => {
  it('a cancel during an interruptible step aborts its signal; the lost signal is not', () => {
    const { watch, cancel } = setUp();
    const signal = watch.enterStep(true);
    cancel();
    expect(watch.requested).toBe(true);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(OperationCancelledError);
    expect(watch.signal).toBe(signal);
    expect(watch.lostSignal.aborted).toBe(false);
    expect(watch.enterStep(false).aborted).toBe(false);
  });

  it('a cancel during a non-interruptible step aborts nothing, read before or after', () => {
    const { watch, cancel } = setUp();
    const signal = watch.enterStep(false);
    cancel();
    watch.leaveStep();
    expect(watch.requested).toBe(true);
    expect(signal.aborted).toBe(false);
    expect(watch.signal.aborted).toBe(false);
  });

  it('a signal read before the cancel gets its abort event, once, with the first reason', () => {
    const { watch, cancel, lost } = setUp();
    const onAbort = vi.fn();
    watch.signal.addEventListener('abort', onAbort);
    cancel();
    lost.abort(new Error('lease lost'));
    expect(onAbort).toHaveBeenCalledTimes(1);
    expect(watch.signal.reason).toBeInstanceOf(OperationCancelledError);
    expect(watch.lostSignal.reason).toEqual(new Error('lease lost'));
  });

  it('losing the operation aborts both signals and revokes the writer', () => {
    const { watch, lost, revoke } = setUp(1);
    const reason = new Error('lease lost');
    lost.abort(reason);
    expect(watch.lost).toBe(true);
    expect(revoke).toHaveBeenCalledWith(expect.any(OperationLostError));
    expect(watch.enterStep(false).reason).toBe(reason);
    expect(watch.lostSignal.reason).toBe(reason);
    expect(watch.signal.reason).toBe(reason);
  });

  it('a lost signal read before the loss gets its abort event, once, and stays the same signal', () => {
    const { watch, lost } = setUp(1);
    const signal = watch.lostSignal;
    const onAbort = vi.fn();
    signal.addEventListener('abort', onAbort);
    const reason = new Error('lease lost');
    lost.abort(reason);
    watch.lose(new Error('later'));
    expect(onAbort).toHaveBeenCalledTimes(1);
    expect(watch.lostSignal).toBe(signal);
    expect(signal.reason).toBe(reason);
  });

  it('makes one AbortController for a run whose steps are interruptible (the lost one on demand)', () => {
    const Real = globalThis.AbortController;
    let made = 0;
    globalThis.AbortController = class extends Real {
      constructor() {
        super();
        made++;
      }
    };
    try {
      const { watch, cancel } = setUp();
      made = 0;
      const { watch: other } = setUp();
      expect(made).toBe(2); // setUp's own lease controller, and the watch's
      watch.enterStep(true);
      cancel();
      watch.leaveStep();
      expect(watch.lost).toBe(false);
      expect(made).toBe(2);
      expect(other.lostSignal.aborted).toBe(false);
      expect(made).toBe(3);
    } finally {
      globalThis.AbortController = Real;
    }
  });

  it('a takeover seen on the stream aborts the step signal', () => {
    const { watch, takeOver, revoke } = setUp(1);
    takeOver(2);
    expect(watch.lost).toBe(true);
    expect(revoke).toHaveBeenCalledWith(expect.any(OperationLostError));
    expect(watch.lostSignal.reason).toBeInstanceOf(OperationLostError);
    expect(watch.enterStep(true).reason).toBeInstanceOf(OperationLostError);
  });
});

describe('StreamWatch: only the events a cancel watch reacts to', () => {
  /** The memory store, counting the events its subscriptions deliver. */
  const countingStore = () => {
    const store = createInMemoryEventStore();
    let delivered = 0;
    const counted: EventStore = {
      ...store,
      subscribe: (options) =>
        store.subscribe(options).pipe(
          tap(() => {
            delivered++;
          }),
        ),
    };
    return { store: counted, delivered: () => delivered };
  };
  const event = (type: string) => ({ type, version: 1, data: {} });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

  it('the subscription delivers cancels and takeovers, not the run’s other events', async () => {
    const { store, delivered } = countingStore();
    const streams = new StreamWatch(store);
    const seen: string[] = [];
    const stop = streams.watch('operation-op-1', 0n, 0n, (r) => seen.push(r.type));
    await store.append('operation-op-1', [event('StepStarted'), event('StepSucceeded')]);
    await store.append('operation-op-2', [event('CancellationRequested')]);
    await store.append('operation-op-1', [event('LogWritten'), event('CancellationRequested')]);
    await store.append('operation-op-1', [event('OperationTakenOver')]);
    await settle();
    stop();
    expect(seen).toEqual(['CancellationRequested', 'OperationTakenOver']);
    // Every event of the five appended would be 6 without the type filter.
    expect(delivered()).toBe(3);
  });

  it('a watch begun after the subscription passed a cancel of its stream still gets it', async () => {
    const { store } = countingStore();
    const streams = new StreamWatch(store);
    const stopOther = streams.watch('operation-op-2', 0n, 0n, () => undefined);
    await store.append('operation-op-1', [event('StepStarted'), event('CancellationRequested')]);
    await store.append('operation-op-2', [event('StepStarted')]);
    await settle();
    const seen: string[] = [];
    const stop = streams.watch('operation-op-1', 1n, 1n, (r) => seen.push(r.type));
    await settle();
    stop();
    stopOther();
    expect(seen).toEqual(['CancellationRequested']);
  });
});

describe('StreamWatch: one subscription kept between runs', () => {
  /** The memory store, counting the subscriptions made and those still open. */
  const subscriptionCounting = () => {
    const store = createInMemoryEventStore();
    const counts = { made: 0, open: 0 };
    const counted: EventStore = {
      ...store,
      subscribe: (options) => {
        counts.made++;
        counts.open++;
        return store.subscribe(options).pipe(finalize(() => counts.open--));
      },
    };
    return { store: counted, counts };
  };

  it('runs one after another share it, even with turns of the event loop between them', async () => {
    vi.useFakeTimers();
    try {
      const { store, counts } = subscriptionCounting();
      const streams = new StreamWatch(store);
      for (let run = 0; run < 3; run++) {
        const stop = streams.watch(`operation-op-${run}`, 0n, 0n, () => undefined);
        stop();
        // What a store's round trips between two runs take (PostgreSQL: a few ms).
        await vi.advanceTimersByTimeAsync(50);
      }
      expect(counts).toEqual({ made: 1, open: 1 });
      await vi.advanceTimersByTimeAsync(KEEP_IDLE_MS);
      expect(counts).toEqual({ made: 1, open: 0 });
      const stop = streams.watch('operation-op-9', 0n, 0n, () => undefined);
      expect(counts).toEqual({ made: 2, open: 1 });
      stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('close() drops it at once when nothing is watched, else when the last watch stops', () => {
    const { store, counts } = subscriptionCounting();
    const streams = new StreamWatch(store);
    const stop = streams.watch('operation-op-1', 0n, 0n, () => undefined);
    streams.close();
    expect(counts.open).toBe(1);
    stop();
    expect(counts).toEqual({ made: 1, open: 0 });
    // A watch after close (a start that raced a shutdown) is not kept idle either.
    streams.watch('operation-op-2', 0n, 0n, () => undefined)();
    expect(counts).toEqual({ made: 2, open: 0 });
  });

  it('drops it only KEEP_IDLE_MS after the latest moment nothing was watched', async () => {
    vi.useFakeTimers();
    try {
      const { store, counts } = subscriptionCounting();
      const streams = new StreamWatch(store);
      streams.watch('operation-op-1', 0n, 0n, () => undefined)();
      await vi.advanceTimersByTimeAsync(1);
      const stop = streams.watch('operation-op-2', 0n, 0n, () => undefined);
      await vi.advanceTimersByTimeAsync(KEEP_IDLE_MS - 2);
      stop();
      // The first idle moment's timer falls due now, with nothing watched for 1 ms only.
      await vi.advanceTimersByTimeAsync(1);
      expect(counts.open).toBe(1);
      await vi.advanceTimersByTimeAsync(KEEP_IDLE_MS - 2);
      expect(counts.open).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(counts).toEqual({ made: 1, open: 0 });
    } finally {
      vi.useRealTimers();
    }
  });

  it("an engine's shutdown drops the subscription it kept between runs", async () => {
    const { store, counts } = subscriptionCounting();
    const noop = () => undefined;
    const engine = createEngine({
      store,
      operations: [
        defineOperation({
          type: 'noop',
          steps: [step({ name: 'a', kind: 'no_side_effects', run: noop })],
        }),
      ],
    });
    const request = { type: 'noop', environment: 'e', resource: { type: 'app', handle: 'a' } };
    for (let i = 0; i < 2; i++) {
      const { result } = await engine.start({ ...request, user: 'u@example.com' });
      expect((await result).status).toBe('succeeded');
    }
    expect(counts).toEqual({ made: 1, open: 1 });
    await engine.shutdown();
    expect(counts.open).toBe(0);
  });
});
