import { isDeepStrictEqual } from 'node:util';
import type { Arbitrary } from 'fast-check';
import { fc } from './fast-check.js';
import { createInMemoryEventStore } from '../adapters/memory/in-memory-event-store.js';
import {
  defineOperation,
  step as defineStep,
  type OperationDefinition,
  type StepDraft,
} from '../domain/operation-definition.js';
import type { Step } from '../domain/step.js';
import { createEngine, type Engine } from '../engine/engine.js';
import type { OperationResult } from '../engine/operation-result.js';
import { createSequentialIds, createVirtualClock } from './virtual-clock.js';

/** Where the harness strikes: a step that fails, and a step during which a cancel arrives. */
export interface FaultPlan {
  /** Index of the step whose run throws instead of running (none when undefined). */
  failAt?: number;
  /** Index of the step during which the operation is cancelled (none when undefined). */
  cancelAt?: number;
}

export interface RollbackCounterexample<W> {
  plan: FaultPlan;
  result: OperationResult;
  /** What `observe` returned before the operation and after its rollback. */
  before: W;
  after: W;
  problem: string;
  log: string[];
}

export type RollbackCheck<W> =
  | { ok: true; runs: number }
  | { ok: false; counterexample: RollbackCounterexample<W>; runs: number; seed: number };

export interface RollbackHarnessOptions<P, W> {
  /** Your steps, or a whole definition (its type and schema are kept). */
  operation: OperationDefinition<P> | readonly StepDraft<P>[];
  /** Params the operation runs with. */
  params?: P;
  /** Reads the world your steps act on; compared with deep equality. */
  observe: () => W | Promise<W>;
  /** Puts the world back to its starting point before each run. */
  reset: () => void | Promise<void>;
  numRuns?: number;
  seed?: number;
}

export class InjectedFailure extends Error {
  override name = 'InjectedFailure';
  constructor(step: string) {
    super(`injected failure of step '${step}' (rollback harness)`);
  }
}

export const faultPlanArbitrary = (steps: number): Arbitrary<FaultPlan> =>
  fc
    .record({
      failAt: fc.option(fc.integer({ min: 0, max: steps - 1 }), { nil: undefined }),
      cancelAt: fc.option(fc.integer({ min: 0, max: steps - 1 }), { nil: undefined }),
    })
    .map((p) => ({
      ...(p.failAt !== undefined ? { failAt: p.failAt } : {}),
      ...(p.cancelAt !== undefined ? { cancelAt: p.cancelAt } : {}),
    }));

/**
 * Runs an operation built from the user's steps under generated failures and cancellations, on
 * an in-memory store with a virtual clock, and checks that the verdict never lies: when the
 * rollback says it succeeded, the observed world equals what it was before; when it failed,
 * only irreversible steps and failed undos are reported. Returns a shrunk counterexample.
 */
export const checkRollback = async <P, W>(
  options: RollbackHarnessOptions<P, W>,
): Promise<RollbackCheck<W>> => {
  const base: OperationDefinition<P> = Array.isArray(options.operation)
    ? defineOperation<P>({ type: 'harnessed', steps: options.operation as readonly StepDraft<P>[] })
    : (options.operation as OperationDefinition<P>);
  const steps = base.steps as readonly Step<P, unknown>[];
  let counterexample: RollbackCounterexample<W> | undefined;

  const property = fc.asyncProperty(faultPlanArbitrary(steps.length), async (plan) => {
    await options.reset();
    const before = await options.observe();
    // The steps cancel through the engine that runs them, made just below.
    const ref: { engine?: Engine } = {};
    const harnessed = defineOperation<P>({
      type: base.type,
      ...(base.params ? { params: base.params } : {}),
      sensitive: base.sensitive,
      steps: steps.map((s, i) =>
        defineStep<P, unknown>({
          name: s.name,
          kind: s.kind,
          retry: { maxAttempts: 1 },
          undoRetry: s.undoRetry,
          interruptible: false,
          ...(s.alternatives ? { alternatives: s.alternatives } : {}),
          ...(s.undo ? { undo: s.undo } : {}),
          run: async (ctx) => {
            // A cancel arrives while this step runs; the step still finishes, then rollback.
            if (plan.cancelAt === i)
              await engine.cancel(ctx.operationId, { user: 'rollback-harness' });
            if (plan.failAt === i && ctx.attempt === 1) throw new InjectedFailure(s.name);
            return s.run(ctx);
          },
        }),
      ),
    });
    const engine = createEngine({
      store: createInMemoryEventStore(),
      operations: [harnessed],
      clock: createVirtualClock(),
      ids: createSequentialIds('harness-'),
    });
    ref.engine = engine;
    const handle = await engine.start({
      type: base.type,
      environment: 'harness',
      resource: { type: 'app', handle: 'harness' },
      user: 'rollback-harness',
      params: (options.params ?? {}) as Record<string, unknown>,
    });
    const log: string[] = [];
    handle.logs.subscribe((line) => log.push(line.message));
    const result = await handle.result;
    const after = await options.observe();
    const fail = (problem: string) => {
      counterexample = { plan, result, before, after, problem, log };
      return false;
    };
    if (result.status === 'succeeded') return true;
    // With no fault injected into undos, an undo that throws is a bug in the undo.
    const undoFailed = result.notUndone.find((n) => n.reason === 'undo_failed');
    if (undoFailed)
      return fail(`the undo of step '${undoFailed.step}' failed: ${undoFailed.error}`);
    const irreversibleRan = result.notUndone.some((n) => n.reason === 'irreversible');
    // The verdict must not lie: 'succeeded' (or nothing to roll back) means the world is back.
    // When an irreversible step ran, its own changes stay: the report is checked, not the world.
    if (!irreversibleRan && !isDeepStrictEqual(before, after)) {
      return fail(
        `the rollback reported '${result.rollback}' but the world is not what it was before the operation`,
      );
    }
    return true;
  });

  const seed = options.seed ?? Date.now();
  const details = await fc.check(property, { numRuns: options.numRuns ?? 200, seed });
  if (!details.failed) return { ok: true, runs: details.numRuns };
  if (details.errorInstance && !counterexample) throw details.errorInstance;
  // fast-check replays the shrunk case last, so `counterexample` holds the smallest one.
  return { ok: false, counterexample: counterexample!, runs: details.numRuns, seed };
};
