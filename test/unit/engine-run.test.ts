import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineOperation,
  InvalidParamsError,
  InvalidRequestError,
  step,
  UnknownOperationTypeError,
  type StepContext,
} from '../../src/index.js';
import { allLines, eventTypes, messages, request, setup } from '../support/fixtures.js';

describe('engine.start', () => {
  it('runs the steps in order with their context and succeeds', async () => {
    const seen: Array<Omit<StepContext, 'signal' | 'log' | 'heartbeat'>> = [];
    const record = (output: unknown) => (ctx: StepContext<{ image: string }>) => {
      const { signal, log, heartbeat, ...rest } = ctx;
      expect(signal).toBeInstanceOf(AbortSignal);
      expect(heartbeat).toBeTypeOf('function');
      log(`running with ${ctx.params.image}`);
      seen.push(rest);
      return output;
    };
    const deploy = defineOperation<{ image: string }>({
      type: 'deploy',
      steps: [
        step({ name: 'pull', kind: 'no_side_effects', run: record({ digest: 'sha:1' }) }),
        step({ name: 'start', run: record({ container: 'c1' }), undo: () => undefined }),
      ],
    });
    const { engine } = setup([deploy]);
    const handle = await engine.start(request({ params: { image: 'v2' } }));
    expect(handle.id).toBe('op-000001');
    const result = await handle.result;
    expect(result).toMatchObject({
      status: 'succeeded',
      rollback: 'none',
      cancelled: false,
      notUndone: [],
    });
    expect(result.summary).toBe('Operation deploy op-000001 on app web succeeded.');
    expect(seen).toEqual([
      {
        operationId: 'op-000001',
        params: { image: 'v2' },
        attempt: 1,
        provider: undefined,
        outputs: {},
        heartbeatDetails: undefined,
        // An engine's own operation has no owner to fence: 0, below every worker's token.
        fence: 0,
      },
      {
        operationId: 'op-000001',
        params: { image: 'v2' },
        attempt: 1,
        provider: undefined,
        outputs: { pull: { digest: 'sha:1' } },
        heartbeatDetails: undefined,
        fence: 0,
      },
    ]);
    expect(messages(await allLines(handle))).toEqual([
      'Operation deploy requested by ada@example.com on app web in environment production',
      'Operation started',
      "Step 'pull' started",
      'running with v2',
      "Step 'pull' succeeded",
      "Step 'start' started",
      'running with v2',
      "Step 'start' succeeded",
      'Operation succeeded',
    ]);
  });

  it('retries on the injected clock with exponential backoff, capped, and logs every retry', async () => {
    let calls = 0;
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'flaky',
          kind: 'no_side_effects',
          retry: {
            maxAttempts: 5,
            initialIntervalMs: 100,
            backoffCoefficient: 3,
            maximumIntervalMs: 1000,
          },
          run: ({ attempt }) => {
            calls++;
            if (attempt < 5) throw new Error(`timeout ${attempt}`);
            return 'ok';
          },
        }),
      ],
    });
    const { engine, clock } = setup([op]);
    const handle = await engine.start(request());
    expect((await handle.result).status).toBe('succeeded');
    expect(calls).toBe(5);
    expect(clock.sleeps).toEqual([100, 300, 900, 1000]);
    const lines = messages(await allLines(handle));
    expect(lines).toContain("Step 'flaky' failed on attempt 1: timeout 1; retrying in 0.1s");
    expect(lines).toContain("Step 'flaky' failed on attempt 4: timeout 4; retrying in 1s");
    expect(lines).toContain("Step 'flaky' started (attempt 5)");
  });

  it('does not retry errors named non-retryable', async () => {
    let calls = 0;
    class QuotaExceeded extends Error {
      override name = 'QuotaExceeded';
    }
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'provision',
          kind: 'no_side_effects',
          retry: { maxAttempts: 5, nonRetryable: ['QuotaExceeded'] },
          run: () => {
            calls++;
            throw new QuotaExceeded('no more instances in this region');
          },
        }),
      ],
    });
    const { engine, clock } = setup([op]);
    const result = await (await engine.start(request())).result;
    expect(calls).toBe(1);
    expect(clock.sleeps).toEqual([]);
    expect(result.failedStep).toBe('provision');
    expect(result.error?.name).toBe('QuotaExceeded');
  });

  it('fails over between providers in turn and logs the failover', async () => {
    const tried: string[] = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'pull image',
          kind: 'no_side_effects',
          alternatives: ['docker-hub', 'quay', 'ghcr'],
          retry: { maxAttempts: 2, initialIntervalMs: 10 },
          run: ({ provider, attempt }) => {
            tried.push(`${provider}#${attempt}`);
            if (provider !== 'ghcr') throw new Error(`${provider} is down`);
            return { from: provider };
          },
        }),
      ],
    });
    const { engine } = setup([op]);
    const handle = await engine.start(request());
    expect((await handle.result).status).toBe('succeeded');
    expect(tried).toEqual(['docker-hub#1', 'docker-hub#2', 'quay#1', 'quay#2', 'ghcr#1']);
    const lines = messages(await allLines(handle));
    expect(lines).toContain(
      "Step 'pull image' failed on attempt 2 with provider docker-hub: docker-hub is down; failing over to quay",
    );
    expect(lines).toContain("Step 'pull image' started (provider ghcr)");
  });

  it('names the step, the cause chain and the rollback outcome in the result', async () => {
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'register targets',
          kind: 'no_side_effects',
          run: () => {
            throw new Error('load balancer refused the target', {
              cause: new Error('HTTP 409 Conflict', {
                cause: new Error('target already registered'),
              }),
            });
          },
        }),
      ],
    });
    const { engine } = setup([op]);
    const result = await (await engine.start(request())).result;
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('register targets');
    expect(result.error).toEqual({
      name: 'Error',
      message: 'load balancer refused the target',
      causes: ['HTTP 409 Conflict', 'target already registered'],
    });
    expect(result.summary).toBe(
      "Operation deploy op-000001 on app web failed at step 'register targets': load balancer refused the target; caused by: HTTP 409 Conflict; caused by: target already registered. Nothing needed rolling back.",
    );
  });

  it('fails a step whose output cannot be recorded as JSON', async () => {
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'start',
          // @ts-expect-error a Date is not JSON: refused by the types too; the run-time check is under test
          run: () => ({ when: new Date() }),
          undo: () => undefined,
        }),
      ],
    });
    const { engine } = setup([op]);
    const result = await (await engine.start(request())).result;
    expect(result.failedStep).toBe('start');
    expect(result.error?.code).toBe('INVALID_STEP_OUTPUT');
    expect(result.error?.message).toContain('output.when is a Date');
  });

  it.each([
    ['throws', false, false],
    ['rejects', true, false],
    ['throws (timed)', false, true],
    ['rejects (timed)', true, true],
  ])(
    'fails a step that %s with undefined: a throw is a failure, whatever was thrown',
    async (_, async, timed) => {
      const undone: string[] = [];
      const op = defineOperation({
        type: 'deploy',
        steps: [
          step({ name: 'pull', run: () => ({ ok: true }), undo: () => void undone.push('pull') }),
          step({
            name: 'start',
            ...(timed ? { timeoutMs: 60_000 } : {}),
            run: async
              ? () => Promise.reject(undefined)
              : () => {
                  throw undefined;
                },
            undo: () => void undone.push('start'),
          }),
        ],
      });
      const { engine } = setup([op]);
      const result = await (await engine.start(request())).result;
      expect(result.status).toBe('failed');
      expect(result.failedStep).toBe('start');
      expect(result.error?.message).toBe('undefined');
      // The step that threw is taken as not done; the one before it is undone.
      expect(undone).toEqual(['pull']);
    },
  );

  it.each([
    ['succeeds', false],
    ['fails', true],
  ])(
    'writes every event when a step logs and returns at once, and the next one waits and %s',
    async (_, fails) => {
      const op = defineOperation({
        type: 'deploy',
        steps: [
          step({
            name: 'a',
            run: ({ log }) => {
              log('hi');
              return 1;
            },
            undo: () => undefined,
          }),
          step({
            name: 'b',
            run: async () => {
              await new Promise((resolve) => setTimeout(resolve, 1));
              if (fails) throw new Error('b refused');
              return 2;
            },
            undo: () => undefined,
          }),
        ],
      });
      const { engine, store } = setup([op]);
      const handle = await engine.start(request());
      const result = await handle.result;
      expect(result.status).toBe(fails ? 'failed' : 'succeeded');
      // Up to step b's start, both runs write the same; then b's outcome.
      const upToB = [
        'OperationRequested',
        'OperationStarted',
        'StepStarted',
        'LogWritten',
        'StepSucceeded',
        'StepStarted',
      ];
      expect(await eventTypes(store, handle.id)).toEqual([
        ...upToB,
        ...(fails
          ? [
              'StepFailed',
              'OperationFailed',
              'RollbackStarted',
              'StepUndoStarted',
              'StepUndone',
              'RollbackFinished',
            ]
          : ['StepSucceeded', 'OperationSucceeded']),
      ]);
    },
  );

  it.each([
    [
      'its output has a getter that throws',
      () => ({
        get x(): number {
          throw new Error('boom');
        },
      }),
    ],
    [
      'its result has a `then` getter that throws',
      () => ({
        get then(): never {
          throw new Error('boom');
        },
      }),
    ],
  ])('fails a step when %s, and rolls back', async (_, run) => {
    const undone: string[] = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({ name: 'pull', run: () => ({ ok: true }), undo: () => void undone.push('pull') }),
        // @ts-expect-error not JSON: the run-time handling is under test
        step({ name: 'start', run, undo: () => void undone.push('start') }),
      ],
    });
    const { engine } = setup([op]);
    const result = await (await engine.start(request())).result;
    expect(result).toMatchObject({ status: 'failed', failedStep: 'start', rollback: 'succeeded' });
    expect(result.error?.message).toBe('boom');
    expect(undone).toEqual(['pull']);
  });

  it('runs a step that returns at once and one that returns a thenable alike', async () => {
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({ name: 'now', kind: 'no_side_effects', run: () => ({ at: 'once' }) }),
        step({
          name: 'later',
          kind: 'no_side_effects',
          // Not a Promise: any object with a `then` is waited for.
          run: (ctx) =>
            ({
              then: (resolve: (v: unknown) => void) =>
                resolve({ saw: (ctx.outputs.now as { at: string }).at }),
            }) as unknown as Promise<{ saw: string }>,
        }),
        step({ name: 'last', kind: 'no_side_effects', run: (ctx) => ctx.outputs.later as never }),
      ],
    });
    const { engine, store } = setup([op]);
    const handle = await engine.start(request());
    const result = await handle.result;
    expect(result.status).toBe('succeeded');
    const succeeded = (await store.readStream(`operation-${handle.id}`))
      .filter((e) => e.type === 'StepSucceeded')
      .map((e) => e.data);
    expect(succeeded).toMatchObject([
      { step: 'now', output: { at: 'once' } },
      { step: 'later', output: { saw: 'once' } },
      { step: 'last', output: { saw: 'once' } },
    ]);
  });
  it('returns the same operation for the same idempotency key, never a second one', async () => {
    let runs = 0;
    const op = defineOperation({
      type: 'deploy',
      steps: [step({ name: 'a', kind: 'no_side_effects', run: () => void runs++ })],
    });
    const { engine, store } = setup([op]);
    const [first, second] = await Promise.all([
      engine.start(request({ idempotencyKey: 'deploy-42' })),
      engine.start(request({ idempotencyKey: 'deploy-42' })),
    ]);
    expect(second.id).toBe(first.id);
    await Promise.all([first.result, second.result]);
    const third = await engine.start(request({ idempotencyKey: 'deploy-42' }));
    expect(third.id).toBe(first.id);
    expect((await third.result).status).toBe('succeeded');
    expect(runs).toBe(1);
    const streams = new Set((await store.readAll()).map((e) => e.streamName));
    expect([...streams].filter((s) => s.startsWith('operation-'))).toEqual([
      `operation-${first.id}`,
    ]);
    await expect(
      engine.start(
        request({ idempotencyKey: 'deploy-42', resource: { type: 'app', handle: 'api' } }),
      ),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  it('raises typed errors for bad requests before writing any event', async () => {
    const op = defineOperation({
      type: 'scale',
      params: z.object({ count: z.number().int().min(1) }),
      steps: [step({ name: 'a', kind: 'no_side_effects', run: () => undefined })],
    });
    const { engine, store } = setup([op]);
    await expect(engine.start(request({ type: 'deploy' }))).rejects.toBeInstanceOf(
      UnknownOperationTypeError,
    );
    await expect(engine.start(request({ type: 'deploy' }))).rejects.toThrow(/known types: scale/);
    const badParams = engine.start(request({ type: 'scale', params: { count: 0 } }));
    await expect(badParams).rejects.toBeInstanceOf(InvalidParamsError);
    await expect(badParams).rejects.toThrow(/count: Too small/);
    await expect(engine.start(request({ type: 'scale', user: '' }))).rejects.toBeInstanceOf(
      InvalidRequestError,
    );
    await expect(
      engine.start(request({ type: 'scale', resource: { type: 'app' } })),
    ).rejects.toThrow(/resource.handle/);
    await expect(engine.start(request({ type: 'scale', environment: '..' }))).rejects.toThrow(
      /environment: must not be made of dots only/,
    );
    await expect(
      engine.start(request({ type: 'scale', resource: { type: 'app', handle: '.' } })),
    ).rejects.toThrow(/resource.handle: must not be made of dots only/);
    expect(await store.readAll()).toEqual([]);
    // The same engine still works for a good request.
    const ok = await engine.start(request({ type: 'scale', params: { count: 2 } }));
    expect((await ok.result).status).toBe('succeeded');
  });

  it('refuses params with an own __proto__ key instead of running without it; one deeper down is kept', async () => {
    const seen: Array<Record<string, unknown>> = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'a',
          kind: 'no_side_effects',
          run: ({ params }) => void seen.push(params as Record<string, unknown>),
        }),
      ],
    });
    const { engine, store } = setup([op]);
    // JSON.parse makes an own `__proto__` key, which a plain z.record leaves out without a word.
    const params = JSON.parse('{"__proto__": {"admin": true}, "image": "v2"}') as object;
    const refused = engine.start(request({ params }));
    await expect(refused).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(refused).rejects.toMatchObject({
      issues: ["params.__proto__: '__proto__' cannot be used as a key here"],
    });
    expect(await store.readAll()).toEqual([]);
    // Inside a param's value, `__proto__` is that value's own business, as before.
    const nested = JSON.parse('{"config": {"__proto__": 1}}') as object;
    const handle = await engine.start(request({ params: nested }));
    expect((await handle.result).status).toBe('succeeded');
    expect(Object.entries(seen[0]!.config as object)).toEqual([['__proto__', 1]]);
    const recorded = (await engine.getOperation(handle.id)).params;
    expect(Object.entries(recorded.config as object)).toEqual([['__proto__', 1]]);
  });

  it('refuses to register the same operation type twice', () => {
    const op = defineOperation({
      type: 'x',
      steps: [step({ name: 'a', kind: 'no_side_effects', run: () => 1 })],
    });
    expect(() => setup([op, op])).toThrow(/two definitions register operation type 'x'/);
  });

  it('keeps sensitive params out of events and masks them in logs and errors', async () => {
    const op = defineOperation<{ name: string; value: string }>({
      type: 'configure',
      sensitive: ['value'],
      steps: [
        step({
          name: 'set variable',
          kind: 'no_side_effects',
          run: ({ params, log }) => {
            log(`setting ${params.name}=${params.value}`);
            return { echoed: [`${params.name}=${params.value}`], [params.value]: true };
          },
        }),
        step({
          name: 'verify',
          kind: 'no_side_effects',
          run: ({ params }) => {
            throw new Error(`rejected value ${params.value}`);
          },
        }),
      ],
    });
    const { engine, store } = setup([op]);
    const handle = await engine.start(
      request({ type: 'configure', params: { name: 'TOKEN', value: 's3cr3t-xyz' } }),
    );
    const result = await handle.result;
    const stored = JSON.stringify((await store.readAll()).map((e) => e.data));
    expect(stored).not.toContain('s3cr3t-xyz');
    expect(stored).toContain('[redacted]');
    expect(messages(await allLines(handle))).toContain('setting TOKEN=[redacted]');
    expect(result.error?.message).toBe('rejected value [redacted]');
    expect((await engine.getOperation(handle.id)).params).toEqual({
      name: 'TOKEN',
      value: '[redacted]',
    });
  });

  it('records the whole life of a successful operation as events', async () => {
    const op = defineOperation({
      type: 'deploy',
      steps: [step({ name: 'a', run: () => 1, undo: () => undefined })],
    });
    const { engine, store } = setup([op]);
    const handle = await engine.start(request());
    await handle.result;
    expect(await eventTypes(store, handle.id)).toEqual([
      'OperationRequested',
      'OperationStarted',
      'StepStarted',
      'StepSucceeded',
      'OperationSucceeded',
    ]);
    await expect(engine.getOperation('nope')).rejects.toMatchObject({
      code: 'OPERATION_NOT_FOUND',
    });
  });
});

describe('idempotency across engines', () => {
  it('gives both engines racing on one key the same operation, run once', async () => {
    const { createEngine, createInMemoryEventStore } = await import('../../src/index.js');
    const { createVirtualClock } = await import('../../src/testing/index.js');
    let runs = 0;
    const op = defineOperation({
      type: 'deploy',
      steps: [step({ name: 'a', kind: 'no_side_effects', run: () => void runs++ })],
    });
    const inner = createInMemoryEventStore();
    // The first engine claims the key, then is slow to record its operation; the second one
    // finds the key taken by an operation that does not exist yet and records it itself.
    let delayed = false;
    const slow = {
      ...inner,
      append: async (...args: Parameters<typeof inner.append>) => {
        if (args[0].startsWith('operation-') && !delayed) {
          delayed = true;
          await new Promise((r) => setTimeout(r, 50));
        }
        return inner.append(...args);
      },
    };
    const first = createEngine({ store: slow, operations: [op], clock: createVirtualClock() });
    const second = createEngine({ store: inner, operations: [op], clock: createVirtualClock() });
    const a = first.start(request({ idempotencyKey: 'k' }));
    await new Promise((r) => setTimeout(r, 10));
    const b = second.start(request({ idempotencyKey: 'k' }));
    const [ha, hb] = await Promise.all([a, b]);
    expect(ha.id).toBe(hb.id);
    expect((await ha.result).status).toBe('succeeded');
    expect((await hb.result).status).toBe('succeeded');
    expect(runs).toBe(1);
  });
});
