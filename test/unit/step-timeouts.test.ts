import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  InvalidDefinitionError,
  step,
  StepTimeoutError,
  type StepContext,
} from '../../src/index.js';
import { systemClock } from '../../src/engine/index.js';
import { createVirtualClock, type VirtualClock } from '../../src/testing/index.js';
import { startTimer, type Clock } from '../../src/engine/clock.js';
import type { EventStore } from '../../src/domain/event-store.js';
import { eventTypes, request, setup, until } from '../support/fixtures.js';

/** The data of the operation's StepFailed events, oldest first. */
const stepFailures = async (store: EventStore, id: string) =>
  (await store.readStream(`operation-${id}`))
    .filter((e) => e.type === 'StepFailed')
    .map((e) => e.data as Record<string, unknown> & { error: { code?: string; message: string } });

/** A promise the test settles by hand: a run that hangs until told otherwise. */
const deferred = <T>() => {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

const undoable = { undo: () => undefined };

describe('step timeouts, when a step is defined', () => {
  const define = (spec: Record<string, unknown>) => () =>
    defineOperation({
      type: 'deploy',
      steps: [step({ name: 'pull', kind: 'no_side_effects', run: (_ctx) => 1, ...spec })],
    });

  it.each([
    [
      { timeoutMs: -1 },
      /timeoutMs must be a whole number of milliseconds of at least 1 \(got -1\)/,
    ],
    [{ timeoutMs: 0 }, /timeoutMs must be .* at least 1 \(got 0\)/],
    [{ timeoutMs: Number.NaN }, /timeoutMs must be .* \(got NaN\)/],
    [{ timeoutMs: 1.5 }, /timeoutMs must be a whole number/],
    [{ timeoutMs: '1000' }, /timeoutMs must be .* \(got 1000\)/],
    [{ timeoutMs: Infinity }, /timeoutMs must be a whole number/],
    [{ timeoutMs: 2 ** 31 }, /timeoutMs must be at most 2147483647 ms/],
    [{ heartbeatTimeoutMs: -5 }, /heartbeatTimeoutMs must be .* \(got -5\)/],
    [
      { timeoutMs: 1_000, heartbeatTimeoutMs: 1_000 },
      /heartbeatTimeoutMs \(1000\) must be shorter than timeoutMs \(1000\)/,
    ],
  ])('given %o, then it is an InvalidDefinitionError naming the step', (spec, message) => {
    expect(define(spec)).toThrow(InvalidDefinitionError);
    expect(define(spec)).toThrow(message);
    expect(define(spec)).toThrow(/Operation definition 'deploy' is invalid: step 'pull': /);
  });

  it('given heartbeatTimeoutMs on a run that takes no context, then it is refused: it could never heartbeat', () => {
    const noContext = () =>
      defineOperation({
        type: 'deploy',
        steps: [
          step({ name: 'pull', kind: 'no_side_effects', run: () => 1, heartbeatTimeoutMs: 10 }),
        ],
      });
    expect(noContext).toThrow(InvalidDefinitionError);
    expect(noContext).toThrow(/its run takes no context, so it can never call ctx.heartbeat\(\)/);
    // timeoutMs alone needs no heartbeat.
    expect(() =>
      defineOperation({
        type: 'deploy',
        steps: [step({ name: 'pull', kind: 'no_side_effects', run: () => 1, timeoutMs: 10 })],
      }),
    ).not.toThrow();
  });

  it('given good values, then the step keeps them, and a step without them has none', () => {
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'a',
          kind: 'no_side_effects',
          run: (_ctx) => 1,
          timeoutMs: 2_147_483_647,
          heartbeatTimeoutMs: 1,
        }),
        step({ name: 'b', kind: 'no_side_effects', run: (_ctx) => 1 }),
      ],
    });
    expect(op.steps[0]).toMatchObject({ timeoutMs: 2_147_483_647, heartbeatTimeoutMs: 1 });
    expect(op.steps[1]).not.toHaveProperty('timeoutMs');
    expect(op.steps[1]).not.toHaveProperty('heartbeatTimeoutMs');
  });
});

describe('StepTimeoutError', () => {
  it('says which timeout fired, after how long, with code STEP_TIMEOUT', () => {
    const total = new StepTimeoutError('pull', 'start_to_close', 1_000);
    expect(total).toMatchObject({
      code: 'STEP_TIMEOUT',
      step: 'pull',
      timeout: 'start_to_close',
      ms: 1_000,
    });
    expect(total.name).toBe('StepTimeoutError');
    expect(total.message).toBe(
      "Step 'pull' timed out: its attempt ran for 1000 ms, its timeoutMs. Make the step faster, raise timeoutMs, or retry it.",
    );
    expect(new StepTimeoutError('pull', 'heartbeat', 250).message).toMatch(
      /^Step 'pull' timed out: no heartbeat for 250 ms, its heartbeatTimeoutMs\./,
    );
  });
});

describe('a step with timeoutMs', () => {
  it('given a run that ignores its signal, then the attempt fails at the timeout while the run still hangs, and its late result is ignored', async () => {
    const hang = deferred<unknown>();
    let signal: AbortSignal | undefined;
    let undone = 0;
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'pull',
          timeoutMs: 1_000,
          run: (ctx) => {
            signal = ctx.signal;
            return hang.promise; // never looks at the signal
          },
          undo: () => {
            undone++;
          },
        }),
      ],
    });
    const { engine, store, clock } = setup([op]);
    const handle = await engine.start(request());
    await until(() => signal !== undefined);
    clock.advance(999);
    expect(signal?.aborted).toBe(false);
    clock.advance(1);
    const result = await handle.result;
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(StepTimeoutError);
    expect(signal?.reason).toMatchObject({ timeout: 'start_to_close', ms: 1_000 });
    expect(result).toMatchObject({ status: 'failed', failedStep: 'pull', rollback: 'succeeded' });
    expect(result.error).toMatchObject({ name: 'StepTimeoutError', code: 'STEP_TIMEOUT' });
    expect(result.error?.message).toMatch(/ran for 1000 ms, its timeoutMs/);
    // A run that threw (here: timed out) is taken as not done: nothing to undo.
    expect(undone).toBe(0);
    const before = await eventTypes(store, handle.id);
    hang.resolve({ late: true });
    await new Promise((r) => setImmediate(r));
    expect(await eventTypes(store, handle.id)).toEqual(before);
    expect(before).not.toContain('StepSucceeded');
  });

  it('given a run that honours its signal, then it stops with the StepTimeoutError, which is what is recorded whatever it throws', async () => {
    let stoppedWith: unknown;
    let started = false;
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'pull',
          kind: 'no_side_effects',
          timeoutMs: 500,
          run: (ctx) =>
            new Promise((_, reject) => {
              started = true;
              ctx.signal.addEventListener('abort', () => {
                stoppedWith = ctx.signal.reason;
                reject(new Error('aborted by the registry client'));
              });
            }),
        }),
        step({ name: 'start', run: () => 1, ...undoable }),
      ],
    });
    const { engine, store, clock } = setup([op]);
    const handle = await engine.start(request());
    await until(() => started);
    clock.advance(500);
    const result = await handle.result;
    expect(stoppedWith).toBeInstanceOf(StepTimeoutError);
    expect(result.error?.code).toBe('STEP_TIMEOUT');
    const [failed] = await stepFailures(store, handle.id);
    expect(failed).toMatchObject({ step: 'pull', attempt: 1, willRetry: false });
    expect(failed?.error.code).toBe('STEP_TIMEOUT');
  });

  it('given a run that sleeps past it on the engine clock with its signal, then the sleep is aborted', async () => {
    const clock = createVirtualClock();
    const seen: unknown[] = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'pull',
          kind: 'no_side_effects',
          timeoutMs: 1_000,
          run: async ({ signal }) => {
            try {
              await clock.sleep(5_000, signal);
            } catch (error) {
              seen.push(error);
              throw error;
            }
            seen.push('woke up');
          },
        }),
      ],
    });
    const { engine } = setupWith(clock, [op]);
    const result = await (await engine.start(request())).result;
    expect(result.error?.code).toBe('STEP_TIMEOUT');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(StepTimeoutError);
  });

  it('given a run that returns within it, then it succeeds and no timer is left to fire later', async () => {
    const clock = createVirtualClock();
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'pull',
          kind: 'no_side_effects',
          timeoutMs: 1_000,
          run: async (ctx) => {
            await clock.sleep(999);
            return { signalAborted: ctx.signal.aborted };
          },
        }),
      ],
    });
    const { engine } = setupWith(clock, [op]);
    const handle = await engine.start(request());
    expect((await handle.result).status).toBe('succeeded');
    let signal: AbortSignal | undefined;
    const op2 = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'pull',
          kind: 'no_side_effects',
          timeoutMs: 1_000,
          run: (ctx) => {
            signal = ctx.signal;
            return 1;
          },
        }),
      ],
    });
    const second = setupWith(clock, [op2]);
    expect((await (await second.engine.start(request())).result).status).toBe('succeeded');
    clock.advance(10_000);
    expect(signal?.aborted).toBe(false);
  });

  it('given a cancel before the timeout, then the step is cancelled, not timed out', async () => {
    const hang = deferred<unknown>();
    let signal: AbortSignal | undefined;
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'pull',
          kind: 'no_side_effects',
          timeoutMs: 1_000,
          run: (ctx) => {
            signal = ctx.signal;
            ctx.signal.addEventListener('abort', () => hang.reject(ctx.signal.reason));
            return hang.promise;
          },
        }),
      ],
    });
    const { engine, store } = setup([op]);
    const handle = await engine.start(request());
    await until(() => signal !== undefined);
    await engine.cancel(handle.id, { user: 'bob' });
    const result = await handle.result;
    expect(result.cancelled).toBe(true);
    expect(result.error?.code).toBe('OPERATION_CANCELLED');
    const [failed] = await stepFailures(store, handle.id);
    expect(failed).toMatchObject({ cancelled: true });
  });

  it('given a step that is not interruptible, then a cancel does not abort its signal but its timeout does', async () => {
    const hang = deferred<unknown>();
    let signal: AbortSignal | undefined;
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'migrate',
          kind: 'no_side_effects',
          interruptible: false,
          timeoutMs: 1_000,
          run: (ctx) => {
            signal = ctx.signal;
            return hang.promise;
          },
        }),
      ],
    });
    const { engine, clock } = setup([op]);
    const handle = await engine.start(request());
    await until(() => signal !== undefined);
    await engine.cancel(handle.id, { user: 'bob' });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(signal?.aborted).toBe(false);
    clock.advance(1_000);
    const result = await handle.result;
    expect(signal?.reason).toBeInstanceOf(StepTimeoutError);
    expect(result.error?.code).toBe('STEP_TIMEOUT');
  });
});

describe('a step with timeoutMs on the system clock', () => {
  it('given a run that never settles, then the engine fails it when its real timer fires', async () => {
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'pull',
          kind: 'no_side_effects',
          timeoutMs: 5,
          run: () => new Promise(() => undefined),
        }),
      ],
    });
    const engine = createEngine({
      store: createInMemoryEventStore(),
      operations: [op],
      clock: systemClock,
    });
    const result = await (await engine.start(request())).result;
    expect(result.error?.code).toBe('STEP_TIMEOUT');
  });
});

describe('a step with heartbeatTimeoutMs', () => {
  const beating = (clock: Clock, gaps: readonly number[]) =>
    defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'copy',
          kind: 'no_side_effects',
          heartbeatTimeoutMs: 1_000,
          run: async ({ heartbeat, signal }) => {
            for (const [i, gap] of gaps.entries()) {
              await clock.sleep(gap, signal);
              heartbeat({ copied: i + 1 });
            }
            return { copied: gaps.length };
          },
        }),
      ],
    });

  it('given heartbeats closer than it, then a step far longer than it runs to the end', async () => {
    const clock = createVirtualClock();
    const { engine } = setupWith(clock, [beating(clock, Array(10).fill(999))]);
    const start = clock.now().getTime();
    const result = await (await engine.start(request())).result;
    expect(result.status).toBe('succeeded');
    expect(clock.now().getTime() - start).toBe(9_990);
  });

  it('given one gap as long as it, then the attempt fails with a heartbeat timeout and records the last details', async () => {
    const clock = createVirtualClock();
    const { engine, store } = setupWith(clock, [beating(clock, [999, 999, 1_000, 10])]);
    const handle = await engine.start(request());
    const result = await handle.result;
    expect(result.error).toMatchObject({ code: 'STEP_TIMEOUT' });
    expect(result.error?.message).toMatch(/no heartbeat for 1000 ms, its heartbeatTimeoutMs/);
    const [failed] = await stepFailures(store, handle.id);
    expect(failed?.heartbeat).toEqual({ copied: 2 });
  });

  it('given no heartbeat at all, then it counts from the start of the attempt', async () => {
    const clock = createVirtualClock();
    const { engine, store } = setupWith(clock, [beating(clock, [1_500])]);
    const handle = await engine.start(request());
    expect((await handle.result).error?.message).toMatch(/no heartbeat for 1000 ms/);
    expect((await stepFailures(store, handle.id))[0]).not.toHaveProperty('heartbeat');
  });

  it('given heartbeats, then timeoutMs still bounds the whole attempt', async () => {
    const clock = createVirtualClock();
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'copy',
          kind: 'no_side_effects',
          timeoutMs: 3_000,
          heartbeatTimeoutMs: 1_000,
          run: async ({ heartbeat, signal }) => {
            for (;;) {
              await clock.sleep(500, signal);
              heartbeat();
            }
          },
        }),
      ],
    });
    const { engine } = setupWith(clock, [op]);
    const result = await (await engine.start(request())).result;
    expect(result.error?.message).toMatch(/ran for 3000 ms, its timeoutMs/);
  });
});

describe('heartbeat details', () => {
  it('given a failed attempt that heartbeat, then the next attempt gets its last details, and a retry then rollback follow the policy', async () => {
    const clock = createVirtualClock();
    const seen: unknown[] = [];
    const undone: string[] = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'create volume',
          run: () => ({ id: 'v1' }),
          undo: () => void undone.push('create volume'),
        }),
        step({
          name: 'copy',
          timeoutMs: 1_000,
          retry: { maxAttempts: 3, initialIntervalMs: 10 },
          run: async ({ attempt, heartbeat, heartbeatDetails, signal }) => {
            seen.push(heartbeatDetails);
            const progress = { copied: attempt * 10 };
            heartbeat(progress);
            progress.copied = -1; // changed after the heartbeat: the heartbeat kept a copy
            if (attempt === 1) throw new Error('disk full');
            if (attempt === 2) heartbeat(); // alive, details unchanged
            await clock.sleep(5_000, signal); // attempts 2 and 3 time out
          },
          undo: () => void undone.push('copy'),
        }),
      ],
    });
    const { engine, store } = setupWith(clock, [op]);
    const handle = await engine.start(request());
    const result = await handle.result;
    expect(seen).toEqual([undefined, { copied: 10 }, { copied: 20 }]);
    const failures = await stepFailures(store, handle.id);
    expect(
      failures.map((f) => [f.attempt, f.willRetry, f.error.code ?? f.error.message, f.heartbeat]),
    ).toEqual([
      [1, true, 'disk full', { copied: 10 }],
      [2, true, 'STEP_TIMEOUT', { copied: 20 }],
      [3, false, 'STEP_TIMEOUT', { copied: 30 }],
    ]);
    expect(result).toMatchObject({ status: 'failed', failedStep: 'copy', rollback: 'succeeded' });
    expect(result.error?.code).toBe('STEP_TIMEOUT');
    expect(undone).toEqual(['create volume']);
  });

  it('given an attempt that gave no details, then the next one still gets the last recorded details', async () => {
    const seen: unknown[] = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'copy',
          kind: 'no_side_effects',
          retry: { maxAttempts: 3, initialIntervalMs: 1 },
          run: ({ attempt, heartbeat, heartbeatDetails }) => {
            seen.push(heartbeatDetails);
            if (attempt === 1) heartbeat({ copied: 1 });
            if (attempt < 3) throw new Error('flaky');
            return 'done';
          },
        }),
      ],
    });
    const { engine } = setup([op]);
    expect((await (await engine.start(request())).result).status).toBe('succeeded');
    expect(seen).toEqual([undefined, { copied: 1 }, { copied: 1 }]);
  });

  it('given a failover to another provider, then that provider starts without details', async () => {
    const seen: Array<[string | undefined, unknown]> = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'pull',
          kind: 'no_side_effects',
          alternatives: ['a', 'b'],
          retry: { maxAttempts: 2, initialIntervalMs: 1 },
          run: ({ provider, heartbeat, heartbeatDetails }) => {
            seen.push([provider, heartbeatDetails]);
            heartbeat({ from: provider });
            throw new Error('down');
          },
        }),
      ],
    });
    const { engine } = setup([op]);
    await (
      await engine.start(request())
    ).result;
    expect(seen).toEqual([
      ['a', undefined],
      ['a', { from: 'a' }],
      ['b', undefined],
      ['b', { from: 'b' }],
    ]);
  });

  it('given details quoting a sensitive param, then they are recorded redacted', async () => {
    const op = defineOperation<{ token: string }>({
      type: 'deploy',
      sensitive: ['token'],
      steps: [
        step({
          name: 'login',
          kind: 'no_side_effects',
          run: ({ params, heartbeat }) => {
            heartbeat({ url: `https://registry/?token=${params.token}` });
            throw new Error('refused');
          },
        }),
      ],
    });
    const { engine, store } = setup([op]);
    const handle = await engine.start(request({ params: { token: 's3cr3t-xyz' } }));
    await handle.result;
    const [failed] = await stepFailures(store, handle.id);
    expect(failed?.heartbeat).toEqual({ url: 'https://registry/?token=[redacted]' });
  });

  it('given details that are not JSON data, then heartbeat throws INVALID_HEARTBEAT_DETAILS at the call', async () => {
    const thrown: unknown[] = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'copy',
          kind: 'no_side_effects',
          run: ({ heartbeat }) => {
            for (const bad of [{ at: new Date(0) }, [Number.NaN], () => 1]) {
              try {
                heartbeat(bad);
              } catch (error) {
                thrown.push(error);
              }
            }
            heartbeat(new Map()); // not caught: fails the step
          },
        }),
      ],
    });
    const { engine, store } = setup([op]);
    const handle = await engine.start(request());
    const result = await handle.result;
    expect(thrown.map((e) => (e as { code: string }).code)).toEqual(
      Array(3).fill('INVALID_HEARTBEAT_DETAILS'),
    );
    expect((thrown[0] as Error).message).toMatch(/details.at is a Date/);
    expect(result.error?.code).toBe('INVALID_HEARTBEAT_DETAILS');
    expect((await stepFailures(store, handle.id))[0]).not.toHaveProperty('heartbeat');
  });

  it('given a run abandoned at its timeout, then what it heartbeats later is not handed to the next attempt', async () => {
    const first = deferred<unknown>();
    const runs: Array<Pick<StepContext, 'heartbeat' | 'heartbeatDetails'>> = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'copy',
          kind: 'no_side_effects',
          timeoutMs: 1_000,
          retry: { maxAttempts: 2, initialIntervalMs: 1 },
          run: (ctx) => {
            runs.push(ctx);
            if (ctx.attempt === 1) {
              ctx.heartbeat({ copied: 1 });
              return first.promise;
            }
            return 'done';
          },
        }),
      ],
    });
    const clock = createVirtualClock();
    const { engine, store } = setupWith(clock, [op]);
    const handle = await engine.start(request());
    await until(() => runs.length === 1);
    // Set after the engine's timer, so it fires right after it, in the same advance: the
    // abandoned run heartbeats as soon as the engine gave up on it, before the retry starts.
    clock.setTimer!(1_000, () => runs[0]?.heartbeat({ copied: 99 }));
    clock.advance(1_000);
    expect((await handle.result).status).toBe('succeeded');
    runs[0]?.heartbeat({ copied: 100 });
    first.resolve('late');
    expect(runs[1]?.heartbeatDetails).toEqual({ copied: 1 });
    expect((await stepFailures(store, handle.id))[0]?.heartbeat).toEqual({ copied: 1 });
  });
});

describe('timers on a clock', () => {
  it('given the virtual clock, then timers fire when sleeps or advances reach them, in the order they fall due, and not once cancelled', async () => {
    const clock = createVirtualClock();
    const fired: string[] = [];
    clock.setTimer!(300, () => fired.push('300'));
    clock.setTimer!(100, () => {
      fired.push('100');
      clock.setTimer!(0, () => fired.push('100+0')); // set while firing, already due
    });
    const cancel = clock.setTimer!(200, () => fired.push('200'));
    clock.setTimer!(100, () => fired.push('100 second'));
    clock.advance(99);
    expect(fired).toEqual([]);
    cancel();
    await clock.sleep(1);
    expect(fired).toEqual(['100', '100 second', '100+0']);
    clock.advance(1_000);
    expect(fired).toEqual(['100', '100 second', '100+0', '300']);
    expect(clock.sleeps).toEqual([1]);
  });

  it('given a clock without setTimer, then startTimer builds one on its sleep, which a cancel aborts', async () => {
    const sleeps: Array<{ ms: number; wake: () => void; signal?: AbortSignal }> = [];
    const clock: Clock = {
      now: () => new Date(0),
      sleep: (ms, signal) =>
        new Promise<void>((resolve, reject) => {
          sleeps.push({ ms, wake: resolve, ...(signal ? { signal } : {}) });
          signal?.addEventListener('abort', () => reject(signal.reason));
        }),
    };
    const fired: number[] = [];
    startTimer(clock, 10, () => fired.push(10));
    const cancel = startTimer(clock, 20, () => fired.push(20));
    expect(sleeps.map((s) => s.ms)).toEqual([10, 20]);
    cancel();
    expect(sleeps[1]?.signal?.aborted).toBe(true);
    sleeps[0]?.wake();
    await new Promise((r) => setImmediate(r));
    expect(fired).toEqual([10]);
  });

  it('given the system clock, then its timer fires, and one cancelled at once does not', async () => {
    const { systemClock } = await import('../../src/engine/clock.js');
    const fired: string[] = [];
    systemClock.setTimer!(0, () => fired.push('cancelled'))();
    await new Promise<void>((resolve) => systemClock.setTimer!(1, () => resolve()));
    await new Promise<void>((resolve) => systemClock.setTimer!(1, () => resolve()));
    expect(fired).toEqual([]);
  });
});

const setupWith = (clock: VirtualClock, operations: Parameters<typeof setup>[0]) =>
  setup(operations, { clock });
