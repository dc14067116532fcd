import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSimulatedCloud } from '../../src/adapters/infrastructure/index.js';
import * as catalog from '../../src/catalog/index.js';
import {
  defaultRetryPolicy,
  resolveRetryPolicy,
  retryDelayMs,
  validateRetryPolicy,
  type RetryPolicy,
} from '../../src/domain/retry-policy.js';
import {
  defineOperation,
  InvalidDefinitionError,
  step,
  type OperationDefinition,
} from '../../src/index.js';
import { createVirtualClock } from '../../src/testing/index.js';
import { request, setup } from '../support/fixtures.js';

const delays = (policy: RetryPolicy) =>
  Array.from({ length: policy.maxAttempts - 1 }, (_, i) => retryDelayMs(policy, i + 1));

describe('the resolved retry policy', () => {
  it('defaults every field: 1 attempt, 1 s, x2, a cap of 100 x the interval, nothing non-retryable', () => {
    expect(resolveRetryPolicy(undefined)).toEqual({
      maxAttempts: 1,
      initialIntervalMs: 1_000,
      backoffCoefficient: 2,
      maximumIntervalMs: 100_000,
      nonRetryable: [],
    });
    expect(resolveRetryPolicy({})).toEqual(resolveRetryPolicy(undefined));
  });

  it('derives the cap from the initial interval the policy gives (Temporal: 100 x)', () => {
    expect(resolveRetryPolicy({ initialIntervalMs: 60_000 }).maximumIntervalMs).toBe(6_000_000);
    expect(resolveRetryPolicy({ initialIntervalMs: 250 }).maximumIntervalMs).toBe(25_000);
    expect(resolveRetryPolicy({ initialIntervalMs: 0 }).maximumIntervalMs).toBe(0);
  });

  it('keeps a cap the policy gives, and the fields it gives', () => {
    expect(
      resolveRetryPolicy({
        maxAttempts: 4,
        initialIntervalMs: 100,
        backoffCoefficient: 3,
        maximumIntervalMs: 1_000,
        nonRetryable: ['Unauthorized'],
      }),
    ).toEqual({
      maxAttempts: 4,
      initialIntervalMs: 100,
      backoffCoefficient: 3,
      maximumIntervalMs: 1_000,
      nonRetryable: ['Unauthorized'],
    });
  });

  it('takes an undefined field as left out', () => {
    expect(
      resolveRetryPolicy({
        maxAttempts: undefined,
        maximumIntervalMs: undefined,
        initialIntervalMs: 5,
      }),
    ).toEqual({ ...defaultRetryPolicy, initialIntervalMs: 5, maximumIntervalMs: 500 });
  });

  it('is always valid when only maxAttempts, the interval and the coefficient are given (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.option(fc.integer({ min: 0, max: 10_000_000 }), { nil: undefined }),
        fc.option(fc.double({ min: 1, max: 10, noNaN: true }), { nil: undefined }),
        (maxAttempts, initialIntervalMs, backoffCoefficient) => {
          const policy = resolveRetryPolicy({ maxAttempts, initialIntervalMs, backoffCoefficient });
          expect(validateRetryPolicy(policy)).toBeUndefined();
          expect(policy.maximumIntervalMs).toBe(policy.initialIntervalMs * 100);
          // The delays start at the interval, never shrink and never pass the cap.
          const ds = delays(policy);
          if (ds.length > 0) expect(ds[0]).toBe(Math.round(policy.initialIntervalMs));
          ds.forEach((d, i) => {
            expect(d).toBeLessThanOrEqual(policy.maximumIntervalMs);
            if (i > 0) expect(d).toBeGreaterThanOrEqual(ds[i - 1]!);
          });
        },
      ),
    );
  });
});

describe('retry delays', () => {
  it('wait 60 s then 120 s for 3 attempts from 60 s, x2 (no hidden 60 s cap)', () => {
    const policy = resolveRetryPolicy({
      maxAttempts: 3,
      initialIntervalMs: 60_000,
      backoffCoefficient: 2,
    });
    expect(delays(policy)).toEqual([60_000, 120_000]);
  });

  it('with the defaults and more attempts: 1, 2, 4, ... s, capped at 100 s', () => {
    expect(delays(resolveRetryPolicy({ maxAttempts: 10 }))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 100_000, 100_000,
    ]);
  });

  it('stop growing at a cap the policy gives', () => {
    expect(
      delays(
        resolveRetryPolicy({
          maxAttempts: 5,
          initialIntervalMs: 100,
          backoffCoefficient: 3,
          maximumIntervalMs: 1_000,
        }),
      ),
    ).toEqual([100, 300, 900, 1_000]);
  });
});

describe('retry policies of definitions', () => {
  const noop = () => undefined;

  it('accept a long initial interval alone (it used to fail on the hidden 60 s cap)', () => {
    const def = defineOperation({
      type: 'x',
      steps: [
        step({
          name: 's',
          kind: 'no_side_effects',
          run: noop,
          retry: { initialIntervalMs: 120_000 },
        }),
      ],
    });
    expect(def.steps[0]?.retry.maximumIntervalMs).toBe(12_000_000);
  });

  it('still reject a cap the user set below the interval', () => {
    expect(() =>
      defineOperation({
        type: 'x',
        steps: [
          step({
            name: 's',
            kind: 'no_side_effects',
            run: noop,
            retry: { initialIntervalMs: 120_000, maximumIntervalMs: 60_000 },
          }),
        ],
      }),
    ).toThrow(InvalidDefinitionError);
  });

  it("give an undo the run's policy, or its own undoRetry resolved on the same defaults", () => {
    const def = defineOperation({
      type: 'x',
      steps: [
        step({
          name: 'a',
          run: noop,
          undo: noop,
          retry: { maxAttempts: 3, initialIntervalMs: 10 },
        }),
        step({
          name: 'b',
          run: noop,
          undo: noop,
          retry: { maxAttempts: 3, initialIntervalMs: 10 },
          undoRetry: { maxAttempts: 5 },
        }),
      ],
    });
    expect(def.steps[0]?.undoRetry).toEqual(def.steps[0]?.retry);
    // undoRetry replaces the run's policy: what it leaves out comes from the defaults.
    expect(def.steps[1]?.undoRetry).toEqual({ ...resolveRetryPolicy(undefined), maxAttempts: 5 });
  });
});

describe('the engine retries on the resolved policy', () => {
  it('waits 60 s then 120 s for { maxAttempts: 3, initialIntervalMs: 60_000, backoffCoefficient: 2 }', async () => {
    const attempts: number[] = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'pull',
          kind: 'no_side_effects',
          retry: { maxAttempts: 3, initialIntervalMs: 60_000, backoffCoefficient: 2 },
          run: ({ attempt }) => {
            attempts.push(attempt);
            if (attempt < 3) throw new Error('registry busy');
          },
        }),
      ],
    });
    const { engine, clock } = setup([op]);
    const result = await (await engine.start(request())).result;
    expect(result.status).toBe('succeeded');
    expect(attempts).toEqual([1, 2, 3]);
    expect(clock.sleeps).toEqual([60_000, 120_000]);
  });

  it("waits on an undo's own policy the same way", async () => {
    let undoCalls = 0;
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'start',
          run: () => undefined,
          undo: () => {
            if (++undoCalls < 3) throw new Error('host busy');
          },
          undoRetry: { maxAttempts: 3, initialIntervalMs: 60_000 },
        }),
        step({
          name: 'check',
          kind: 'no_side_effects',
          run: () => {
            throw new Error('unhealthy');
          },
        }),
      ],
    });
    const { engine, clock } = setup([op]);
    const result = await (await engine.start(request())).result;
    expect(result.rollback).toBe('succeeded');
    expect(clock.sleeps).toEqual([60_000, 120_000]);
  });
});

describe("the catalog's retry policies", () => {
  // Before the cap followed the interval, every policy without one was capped at 60 s. None of
  // the catalog's steps may have relied on it: their delays are what they were.
  const oldDelays = (p: RetryPolicy) =>
    Array.from({ length: p.maxAttempts - 1 }, (_, i) =>
      Math.round(
        Math.min(
          p.maximumIntervalMs === p.initialIntervalMs * 100 ? 60_000 : p.maximumIntervalMs,
          p.initialIntervalMs * p.backoffCoefficient ** i,
        ),
      ),
    );

  const definitions = (): OperationDefinition<never>[] => {
    const cloud = createSimulatedCloud({ seed: 1, clock: createVirtualClock() });
    const factories: ((infra: typeof cloud) => OperationDefinition<never>)[] = [
      catalog.appProvision,
      catalog.appDeploy,
      catalog.appRestart,
      catalog.appScale,
      catalog.appConfigure,
      catalog.appRollback,
      catalog.appDeprovision,
      catalog.databaseProvision,
      catalog.databaseRedeploy,
      catalog.databaseRestart,
      catalog.databaseBackup,
      catalog.databaseResizeVolume,
      catalog.databaseDeprovision,
      catalog.environmentProvision,
      catalog.environmentDeprovision,
      catalog.sshSession,
    ] as never;
    return factories.map((make) => make(cloud));
  };

  it('wait as long as they did under the old 60 s cap', () => {
    const defs = definitions();
    expect(defs).toHaveLength(16);
    for (const def of defs) {
      for (const s of def.steps) {
        for (const policy of [s.retry, s.undoRetry]) {
          expect({ step: `${def.type}/${s.name}`, delays: delays(policy) }).toEqual({
            step: `${def.type}/${s.name}`,
            delays: oldDelays(policy),
          });
        }
      }
    }
  });

  it("keep the app undos' 60 s cap with their default interval, and drop it over a longer one", () => {
    const cloud = createSimulatedCloud({ seed: 1, clock: createVirtualClock() });
    const undoPolicy = (def: OperationDefinition<never>) =>
      def.steps.find((s) => s.kind === 'undoable')!.undoRetry;
    expect(undoPolicy(catalog.appDeploy(cloud) as never).maximumIntervalMs).toBe(60_000);
    expect(
      undoPolicy(catalog.appDeploy(cloud, { undoRetry: { maxAttempts: 3 } }) as never)
        .maximumIntervalMs,
    ).toBe(60_000);
    const long = undoPolicy(
      catalog.appDeploy(cloud, { undoRetry: { initialIntervalMs: 120_000 } }) as never,
    );
    expect(long.maximumIntervalMs).toBe(12_000_000);
    expect(long.maxAttempts).toBe(30);
  });
});
