import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineOperation, step } from '../../src/index.js';
import { checkRollback, createVirtualClock, faultPlanArbitrary } from '../../src/testing/index.js';
import { harnessedOperation } from '../../src/testing/rollback-harness.js';
import { request, setup } from '../support/fixtures.js';

const makeWorld = () => {
  let items = new Set<string>();
  return {
    reset: () => {
      items = new Set(['base']);
    },
    observe: () => [...items].sort(),
    add: (name: string, undo: 'right' | 'forgets' | 'throws' = 'right') =>
      step({
        name,
        run: () => {
          items.add(name);
          return { added: name };
        },
        undo: () => {
          if (undo === 'throws') throw new Error(`cannot remove ${name}`);
          if (undo === 'right') items.delete(name);
        },
      }),
    irreversible: (name: string) =>
      step({ name, kind: 'irreversible', run: () => void items.add(name) }),
    check: step({ name: 'check', kind: 'no_side_effects', run: () => undefined }),
  };
};

describe('checkRollback (the harness for your own steps)', () => {
  it('passes steps whose undos restore the world', async () => {
    const w = makeWorld();
    const outcome = await checkRollback({
      operation: [w.add('a'), w.add('b'), w.check, w.add('c')],
      observe: w.observe,
      reset: w.reset,
      numRuns: 100,
      seed: 1,
    });
    expect(outcome).toEqual({ ok: true, runs: 100 });
  });

  it('catches an undo that forgets to restore, with the smallest fault plan', async () => {
    const w = makeWorld();
    const outcome = await checkRollback({
      operation: [w.add('a'), w.add('b', 'forgets'), w.check, w.add('c')],
      observe: w.observe,
      reset: w.reset,
      numRuns: 100,
      seed: 1,
    });
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.counterexample.problem).toContain("rollback reported 'succeeded'");
    // Shrunk to one fault at or after 'b' (a failure after it, or a cancel while it runs).
    const { plan } = outcome.counterexample;
    expect(Object.keys(plan)).toHaveLength(1);
    expect(plan.failAt ?? plan.cancelAt).toBeGreaterThanOrEqual(plan.failAt !== undefined ? 2 : 1);
    expect(outcome.counterexample.before).toEqual(['base']);
    expect(outcome.counterexample.after).toEqual(['b', 'base']);
    expect(outcome.counterexample.log.at(-1)).toContain('Rollback succeeded');
  });

  it('reports an undo that throws', async () => {
    const w = makeWorld();
    const outcome = await checkRollback({
      operation: defineOperation({ type: 'mine', steps: [w.add('a', 'throws'), w.check] }),
      observe: w.observe,
      reset: w.reset,
      numRuns: 50,
      seed: 3,
    });
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.counterexample.problem).toBe("the undo of step 'a' failed: cannot remove a");
  });

  it('accepts irreversible steps, whose changes the rollback reports instead of undoing', async () => {
    const w = makeWorld();
    const outcome = await checkRollback({
      operation: [w.irreversible('migrate'), w.add('a'), w.check],
      observe: w.observe,
      reset: w.reset,
      numRuns: 50,
      seed: 4,
    });
    expect(outcome.ok).toBe(true);
  });
});

/**
 * Mutation tests: for each step option, a definition using it with an undo (or a run's own
 * clean-up) deliberately broken, which the harness must catch, and the same definition done
 * right, which it must pass. The harness used to rebuild the steps without `when`, with one
 * attempt and never interrupted: each broken one below then passed.
 */
describe('checkRollback runs the plan the engine runs, whatever the step options', () => {
  type Fix = 'right' | 'broken';
  const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

  describe('when', () => {
    // A deploy whose irreversible migration applies only when there are migrations.
    type Deploy = { image: string; migrations: string[] };
    const makeDeploy = (fix: Fix) => {
      const world = { containers: new Set<string>(), traffic: '', migrated: [] as string[] };
      const definition = defineOperation<Deploy>({
        type: 'app.deploy',
        steps: [
          step<Deploy, { image: string }>({
            name: 'start new containers',
            run: ({ params }) => {
              world.containers.add(params.image);
              return { image: params.image };
            },
            // The broken one forgets to stop what it started.
            undo: ({ output }) => {
              if (fix === 'right' && output) world.containers.delete(output.image);
            },
          }),
          step<Deploy>({
            name: 'run migrations',
            kind: 'irreversible',
            when: (p) => p.migrations.length > 0,
            run: ({ params }) => void world.migrated.push(...params.migrations),
          }),
          step<Deploy, { previous: string }>({
            name: 'switch traffic',
            run: ({ params }) => {
              const previous = world.traffic;
              world.traffic = params.image;
              return { previous };
            },
            undo: ({ output }) => {
              if (output) world.traffic = output.previous;
            },
          }),
        ],
      });
      return {
        definition,
        reset: () => {
          world.containers = new Set(['web:v1']);
          world.traffic = 'web:v1';
          world.migrated = [];
        },
        observe: () => ({
          containers: [...world.containers].sort(),
          traffic: world.traffic,
          migrated: [...world.migrated],
        }),
      };
    };
    const check = (fix: Fix) => {
      const { definition, reset, observe } = makeDeploy(fix);
      return checkRollback({
        operation: definition,
        params: { image: 'web:v2', migrations: [] },
        observe,
        reset,
        numRuns: 100,
        seed: 14,
      });
    };

    it('leaves out a step whose when says no, so a broken undo of another step is caught', async () => {
      const broken = await check('broken');
      expect(broken.ok).toBe(false);
      if (broken.ok) return;
      expect(broken.counterexample.problem).toContain('the world is not what it was');
      // The migration never ran: nothing irreversible to excuse the world.
      expect(broken.counterexample.result.notUndone).toEqual([]);
      expect(broken.counterexample.after.migrated).toEqual([]);
      expect(broken.counterexample.log.join('\n')).not.toContain('run migrations');
    });

    it('passes the same deploy with a right undo', async () => {
      expect(await check('right')).toEqual({ ok: true, runs: 100 });
    });
  });

  describe('retry', () => {
    // The registry refuses the first pull after each reset: the step's retries get past it.
    const makeDeploy = (fix: Fix) => {
      let pulls = 0;
      let containers = new Set<string>();
      return {
        reset: () => {
          pulls = 0;
          containers = new Set();
        },
        observe: () => [...containers].sort(),
        operation: [
          step({
            name: 'pull image',
            kind: 'no_side_effects',
            retry: { maxAttempts: 2, initialIntervalMs: 60_000, nonRetryable: ['Unauthorized'] },
            run: () => {
              if (++pulls === 1) throw new Error('registry busy');
            },
          }),
          step({
            name: 'start containers',
            run: () => void containers.add('web:v2'),
            undo: () => {
              if (fix === 'right') containers.delete('web:v2');
            },
          }),
          step({ name: 'health check', kind: 'no_side_effects', run: () => undefined }),
        ],
      };
    };

    it("retries as the step's policy says, so the steps after a flaky one run and a broken undo is caught", async () => {
      const outcome = await checkRollback({ ...makeDeploy('broken'), numRuns: 100, seed: 1 });
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.counterexample.log).toContain(
        "Step 'pull image' failed on attempt 1: registry busy; retrying in 60s",
      );
      expect(outcome.counterexample.after).toEqual(['web:v2']);
    });

    it('passes the same steps with a right undo', async () => {
      expect(await checkRollback({ ...makeDeploy('right'), numRuns: 100, seed: 1 })).toEqual({
        ok: true,
        runs: 100,
      });
    });
  });

  describe('undoRetry', () => {
    // The undo's first attempt times out after it took effect: its retry must be idempotent.
    const makeScale = (fix: Fix) => {
      let replicas = 0;
      return {
        reset: () => {
          replicas = 2;
        },
        observe: () => replicas,
        operation: [
          step<Record<string, unknown>, { before: number }>({
            name: 'scale up',
            undoRetry: { maxAttempts: 3, initialIntervalMs: 100 },
            run: () => {
              const before = replicas;
              replicas += 1;
              return { before };
            },
            undo: ({ output, attempt }) => {
              // Broken: not idempotent, so the retry scales down a second time.
              if (fix === 'broken') replicas -= 1;
              else if (output) replicas = output.before;
              if (attempt === 1) throw new Error('timed out waiting for the scheduler');
            },
          }),
          step({ name: 'health check', kind: 'no_side_effects', run: () => undefined }),
        ],
      };
    };

    it('retries an undo as its undoRetry says, and catches one that is not idempotent', async () => {
      const outcome = await checkRollback({ ...makeScale('broken'), numRuns: 50, seed: 2 });
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.counterexample.problem).toContain('the world is not what it was');
      expect(outcome.counterexample.after).toBe(1);
    });

    it('passes an idempotent undo whose first attempt fails', async () => {
      expect(await checkRollback({ ...makeScale('right'), numRuns: 50, seed: 2 })).toEqual({
        ok: true,
        runs: 50,
      });
    });
  });

  describe('alternatives', () => {
    // The undo must remove the image from the registry the run pulled it from.
    const makePull = (fix: Fix) => {
      let images = new Set<string>();
      return {
        reset: () => {
          images = new Set();
        },
        observe: () => [...images].sort(),
        operation: [
          step<Record<string, unknown>, { from: string }>({
            name: 'pull image',
            alternatives: ['docker-hub', 'quay'],
            run: ({ provider }) => {
              images.add(`web:v2@${provider}`);
              return { from: provider! };
            },
            undo: ({ output }) => {
              // Broken: assumes the primary registry, wrong after a failover.
              images.delete(`web:v2@${fix === 'broken' ? 'docker-hub' : output?.from}`);
            },
          }),
          step({ name: 'health check', kind: 'no_side_effects', run: () => undefined }),
        ],
      };
    };

    it('fails the primary provider only, so the failover is rolled back too and a broken undo caught', async () => {
      const outcome = await checkRollback({ ...makePull('broken'), numRuns: 100, seed: 3 });
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      const { plan, after, log } = outcome.counterexample;
      expect(plan).toMatchObject({ failAt: 0, failures: 1 });
      expect(plan.cancelAt).toBeDefined();
      expect(after).toEqual(['web:v2@quay']);
      expect(log.join('\n')).toContain('failing over to quay');
    });

    it('passes the same step with a right undo', async () => {
      expect(await checkRollback({ ...makePull('right'), numRuns: 100, seed: 3 })).toEqual({
        ok: true,
        runs: 100,
      });
    });
  });

  describe('interruptible', () => {
    // Starts containers one by one; stops early when the operation is cancelled.
    const makeStart = (undo: Fix, options: { interruptible?: boolean; cleanUp?: Fix } = {}) => {
      let running = 0;
      return {
        reset: () => {
          running = 0;
        },
        observe: () => running,
        operation: [
          step<{ count: number }, { started: number }>({
            name: 'start containers',
            ...(options.interruptible !== undefined
              ? { interruptible: options.interruptible }
              : {}),
            run: async ({ params, signal }) => {
              let started = 0;
              for (; started < params.count; started++) {
                if (signal.aborted) {
                  if (options.cleanUp === undefined) break; // returns what it started
                  // Throwing means 'not done': the run must stop what it started first.
                  if (options.cleanUp === 'right') running -= started;
                  throw signal.reason;
                }
                running += 1;
                await tick();
              }
              return { started };
            },
            // Broken: assumes every container started, wrong after an interrupted run.
            undo: ({ output, params }) => {
              running -= undo === 'broken' ? params.count : (output?.started ?? 0);
            },
          }),
          step({ name: 'health check', kind: 'no_side_effects', run: () => undefined }),
        ],
        params: { count: 3 },
      };
    };

    it('lets the engine abort an interruptible run, so an undo that ignores how far it got is caught', async () => {
      const outcome = await checkRollback({ ...makeStart('broken'), numRuns: 50, seed: 5 });
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.counterexample.plan).toEqual({ cancelAt: 0 });
      expect(outcome.counterexample.after).toBe(-2);
    });

    it('passes the same step with a right undo', async () => {
      expect(await checkRollback({ ...makeStart('right'), numRuns: 50, seed: 5 })).toEqual({
        ok: true,
        runs: 50,
      });
    });

    it('catches an interrupted run that throws without stopping what it started', async () => {
      const broken = await checkRollback({
        ...makeStart('right', { cleanUp: 'broken' }),
        numRuns: 50,
        seed: 6,
      });
      expect(broken.ok).toBe(false);
      if (broken.ok) return;
      expect(broken.counterexample.plan).toEqual({ cancelAt: 0 });
      expect(broken.counterexample.result.cancelled).toBe(true);
      expect(broken.counterexample.after).toBe(1);
      const right = await checkRollback({
        ...makeStart('right', { cleanUp: 'right' }),
        numRuns: 50,
        seed: 6,
      });
      expect(right).toEqual({ ok: true, runs: 50 });
    });

    it('never aborts a step with interruptible: false, as the engine does not', async () => {
      // Such a run always starts every container, so this undo is right for it.
      const outcome = await checkRollback({
        ...makeStart('broken', { interruptible: false }),
        numRuns: 50,
        seed: 5,
      });
      expect(outcome).toEqual({ ok: true, runs: 50 });
    });
  });
});

describe('faultPlanArbitrary over the steps themselves', () => {
  const steps = defineOperation({
    type: 'x',
    steps: [
      step({ name: 'once', kind: 'no_side_effects', run: () => undefined }),
      step({
        name: 'twice with two',
        kind: 'no_side_effects',
        retry: { maxAttempts: 2 },
        alternatives: ['a', 'b'],
        run: () => undefined,
      }),
    ],
  }).steps;

  it('makes a step fail only its first runs, fewer than the engine gives it', () => {
    const plans = fc.sample(faultPlanArbitrary(steps), { numRuns: 500, seed: 7 });
    const transient = plans.filter((p) => p.failures !== undefined);
    expect(transient.length).toBeGreaterThan(0);
    for (const p of transient) {
      expect(p.failAt).toBe(1);
      expect(p.failures).toBeGreaterThanOrEqual(1);
      expect(p.failures).toBeLessThan(4);
    }
    expect(new Set(transient.map((p) => p.failures))).toEqual(new Set([1, 2, 3]));
  });

  it('keeps plans without failures for a count of steps', () => {
    const plans = fc.sample(faultPlanArbitrary(2), { numRuns: 200, seed: 7 });
    expect(plans.every((p) => p.failures === undefined)).toBe(true);
  });
});

describe('the harness and step timeouts', () => {
  const makeTimed = () => {
    const w = makeWorld();
    let userRuns = 0;
    const timed = step({
      name: 'wait healthy',
      kind: 'no_side_effects',
      timeoutMs: 5_000,
      retry: { maxAttempts: 2, initialIntervalMs: 1 },
      run: () => {
        userRuns++;
        return { healthy: true };
      },
    });
    const beating = step({
      name: 'copy',
      kind: 'no_side_effects',
      heartbeatTimeoutMs: 300,
      run: ({ heartbeat }) => heartbeat({ copied: 1 }),
    });
    return { w, timed, beating, userRuns: () => userRuns };
  };

  it('stalls only steps that have a timeout', () => {
    const { w, timed, beating } = makeTimed();
    const steps = defineOperation({
      type: 'x',
      steps: [w.add('a'), timed, w.check, beating],
    }).steps;
    const plans = fc.sample(faultPlanArbitrary(steps), { numRuns: 300, seed: 3 });
    const stalled = new Set(plans.map((p) => p.stallAt).filter((i) => i !== undefined));
    expect(stalled).toEqual(new Set([1, 3]));
    const untimed = defineOperation({ type: 'y', steps: [w.add('a'), w.check] }).steps;
    const plain = fc.sample(faultPlanArbitrary(untimed), { numRuns: 100, seed: 3 });
    expect(plain.every((p) => p.stallAt === undefined)).toBe(true);
  });

  it('given a stall, then the engine times the first run out and retries it as its policy says; with no retry left it rolls back', async () => {
    const { w, timed, userRuns } = makeTimed();
    const outcome = await checkRollback({
      operation: [w.add('a'), timed, w.add('b')],
      observe: w.observe,
      reset: w.reset,
      numRuns: 60,
      seed: 4,
    });
    expect(outcome).toEqual({ ok: true, runs: 60 });
    expect(userRuns()).toBeGreaterThan(0);
  });

  it('given a stall, then the first run hangs past its timeout instead of running yours, ignoring its signal', async () => {
    const w = makeWorld();
    w.reset();
    let userRuns = 0;
    let signal: AbortSignal | undefined;
    const base = defineOperation({
      type: 'deploy',
      steps: [
        w.add('a'),
        step({
          name: 'wait healthy',
          kind: 'no_side_effects',
          timeoutMs: 1_000,
          run: (ctx) => {
            signal = ctx.signal;
            userRuns++;
          },
        }),
      ],
    });
    const run = async (retried: boolean) => {
      const clock = createVirtualClock();
      const definition = retried
        ? {
            ...base,
            steps: base.steps.map((s, i) =>
              i === 1 ? { ...s, retry: { ...s.retry, maxAttempts: 2 } } : s,
            ),
          }
        : base;
      const { engine } = setup(
        [harnessedOperation(definition, { stallAt: 1 }, async () => undefined, clock)],
        { clock },
      );
      return (await engine.start(request())).result;
    };
    const once = await run(false);
    expect(once).toMatchObject({
      status: 'failed',
      failedStep: 'wait healthy',
      rollback: 'succeeded',
    });
    expect(once.error?.code).toBe('STEP_TIMEOUT');
    expect(userRuns).toBe(0);
    expect(w.observe()).toEqual(['base']);
    const retried = await run(true);
    expect(retried.status).toBe('succeeded');
    expect(userRuns).toBe(1);
    expect(signal?.aborted).toBe(false);
  });
});
