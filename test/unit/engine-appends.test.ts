import { Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  createInMemoryEventStore,
  defineOperation,
  step,
  type EventStore,
  type StepContext,
} from '../../src/index.js';
import { operationStreamName } from '../../src/domain/stream-names.js';
import { eventTypes, request, setup } from '../support/fixtures.js';
import { countingStore as countingStoreOf, NOOP_STEPS } from '../../bench/lib/engine-appends.js';

/** A memory store that counts its commits and records each append (bench/lib/engine-appends.ts). */
const countingStore = () => {
  const inner = createInMemoryEventStore();
  return { inner, ...countingStoreOf(inner) };
};

const noop = () => undefined;

const deferred = () => {
  let resolve: () => void = noop;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

/** The engine benchmark's operation: five steps of every kind that do nothing. */
const fiveSteps = defineOperation({ type: 'deploy', steps: NOOP_STEPS });

describe('the engine appends events decided together in one append (issue 17)', () => {
  it('writes a five-step operation in 6 appends on its stream, 10 in all, with the same events in the same order', async () => {
    const { store, inner, appends, commits } = countingStore();
    const { engine } = setup([fiveSteps], { store });
    const handle = await engine.start(request());
    expect((await handle.result).status).toBe('succeeded');

    const own = appends.filter((a) => a.stream === operationStreamName(handle.id));
    // Before issue 17 this was 12 appends on the operation's stream and 16 in all.
    expect(own.map((a) => a.types)).toEqual([
      ['OperationRequested'],
      ['OperationStarted', 'StepStarted'],
      ['StepSucceeded', 'StepStarted'],
      ['StepSucceeded', 'StepStarted'],
      ['StepSucceeded', 'StepStarted'],
      ['StepSucceeded', 'StepStarted'],
      ['StepSucceeded', 'OperationSucceeded'],
    ]);
    // The request goes with its queue entry (appendToStreams); taking and releasing the
    // resource: 3 commits more than the operation's own 7 appends.
    expect(commits.count).toBeLessThanOrEqual(10);
    expect(await eventTypes(inner, handle.id)).toEqual(own.flatMap((a) => a.types));
  });

  it('rolls back with one append per undo: the failure with the first, the verdict with the last', async () => {
    const { store, appends } = countingStore();
    const failing = defineOperation({
      type: 'deploy',
      steps: [
        step({ name: 'a', run: noop, undo: noop }),
        step({ name: 'b', kind: 'irreversible', run: noop }),
        step({ name: 'c', run: noop, undo: noop }),
        step({
          name: 'd',
          kind: 'no_side_effects',
          run: () => {
            throw new Error('503');
          },
        }),
      ],
    });
    const { engine } = setup([failing], { store });
    const handle = await engine.start(request());
    expect(await handle.result).toMatchObject({ status: 'failed', rollback: 'failed' });
    const own = appends.filter((a) => a.stream === operationStreamName(handle.id));
    expect(own.slice(5).map((a) => a.types)).toEqual([
      ['StepFailed', 'OperationFailed', 'RollbackStarted', 'StepUndoStarted'],
      ['StepUndone', 'StepNotUndoable', 'StepUndoStarted'],
      ['StepUndone', 'RollbackFinished'],
    ]);
  });

  it('never runs a step before its start is in the store (write-ahead)', async () => {
    const { store, inner } = countingStore();
    const seen: string[][] = [];
    const look = async (ctx: StepContext) => {
      const recorded = await inner.readStream(operationStreamName(ctx.operationId));
      seen.push(recorded.slice(-1).map((r) => `${r.type}:${(r.data as { step: string }).step}`));
    };
    const op = defineOperation({
      type: 'deploy',
      steps: ['a', 'b', 'c'].map((name) => step({ name, run: look, undo: noop })),
    });
    const { engine } = setup([op], { store });
    const handle = await engine.start(request());
    expect((await handle.result).status).toBe('succeeded');
    expect(seen).toEqual([['StepStarted:a'], ['StepStarted:b'], ['StepStarted:c']]);
  });
});

describe('one cancel watch per engine (issue 17)', () => {
  it('keeps one store subscription for eight operations in flight, and a cancel reaches only its own', async () => {
    const inner = createInMemoryEventStore();
    let open = 0;
    let peak = 0;
    const store: EventStore = {
      ...inner,
      subscribe: (options) => {
        const source = inner.subscribe(options);
        return new Observable((subscriber) => {
          peak = Math.max(peak, ++open);
          const inside = source.subscribe(subscriber);
          return () => {
            open--;
            inside.unsubscribe();
          };
        });
      },
    };
    const gate = deferred();
    let started = 0;
    const everyStarted = deferred();
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'wait',
          run: async (ctx: StepContext) => {
            if (++started === 8) everyStarted.resolve();
            await Promise.race([
              gate.promise,
              new Promise((_, reject) =>
                ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
              ),
            ]);
          },
          undo: noop,
        }),
      ],
    });
    const { engine } = setup([op], { store });
    const handles = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        engine.start(request({ resource: { type: 'app', handle: `app-${i}` } })),
      ),
    );
    await everyStarted.promise;
    await engine.cancel(handles[3]!.id, { user: 'bob@example.com' });
    const cancelled = await handles[3]!.result;
    gate.resolve();
    const results = await Promise.all(handles.map((h) => h.result));
    expect(cancelled).toMatchObject({ status: 'failed', cancelled: true });
    expect(results.map((r) => r.status)).toEqual([
      ...Array(3).fill('succeeded'),
      'failed',
      ...Array(4).fill('succeeded'),
    ]);
    // One per operation in flight before issue 17.
    expect(peak).toBe(1);
    // Kept for the next runs while idle (KEEP_IDLE_MS), dropped by the engine's shutdown.
    await new Promise((resolve) => setImmediate(resolve));
    expect(open).toBe(1);
    await engine.shutdown();
    expect(open).toBe(0);
  });

  it('keeps the one subscription for operations run one after another, turns apart, until shutdown', async () => {
    const inner = createInMemoryEventStore();
    let subscribed = 0;
    let open = 0;
    const store: EventStore = {
      ...inner,
      subscribe: (options) => {
        const source = inner.subscribe(options);
        return new Observable((subscriber) => {
          subscribed++;
          open++;
          const inside = source.subscribe(subscriber);
          return () => {
            open--;
            inside.unsubscribe();
          };
        });
      },
    };
    const op = defineOperation({
      type: 'deploy',
      steps: [step({ name: 'a', kind: 'no_side_effects', run: noop })],
    });
    const gate = deferred();
    const slow = defineOperation({
      type: 'slow',
      steps: [
        step({
          name: 'wait',
          kind: 'no_side_effects',
          run: (ctx: StepContext) =>
            new Promise((_, reject) => {
              gate.resolve();
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            }),
        }),
      ],
    });
    const { engine } = setup([op, slow], { store });
    for (let i = 0; i < 5; i++) {
      const handle = await engine.start(request());
      expect((await handle.result).status).toBe('succeeded');
      // A few turns between runs, as a store's round trips make (PostgreSQL's listening
      // connection closed with the subscription, and each run waited for a new one).
      for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
    }
    // One subscription for the five, not one each (5 when dropped at each run's end).
    expect(subscribed).toBe(1);
    expect(open).toBe(1);
    // And a cancel reaches a run begun while it was idle, through the same subscription.
    const handle = await engine.start(request({ type: 'slow' }));
    await gate.promise;
    await engine.cancel(handle.id, { user: 'bob@example.com' });
    expect(await handle.result).toMatchObject({ status: 'failed', cancelled: true });
    expect(subscribed).toBe(1);
    await engine.shutdown();
    expect(open).toBe(0);
  });
});
