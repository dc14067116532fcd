import { isDeepStrictEqual } from 'node:util';
import type { Arbitrary } from 'fast-check';
import { fc } from './fast-check.js';
import { createInMemoryEventStore } from '../adapters/memory/in-memory-event-store.js';
import {
  defineOperation,
  type OperationDefinition,
  type StepDraft,
} from '../domain/operation-definition.js';
import type { Step, StepContext } from '../domain/step.js';
import type { Clock } from '../engine/clock.js';
import { createEngine, type Engine } from '../engine/engine.js';
import type { OperationResult } from '../engine/operation-result.js';
import { createVirtualClock } from '../engine/virtual-clock.js';
import { createSequentialIds } from './sequential-ids.js';

/**
 * Where the harness strikes: a step that fails (for good, or a few times first), a step
 * during which a cancel arrives, and a step with a timeout whose run hangs past it. Indexes are positions in the definition's steps; a fault aimed
 * at a step that its `when` leaves out of the plan does not happen, as the step does not run.
 */
export interface FaultPlan {
  /** Index of the step whose runs throw `InjectedFailure` instead of running (none when undefined). */
  failAt?: number;
  /**
   * How many runs of step `failAt` throw before the harness lets one through to your `run`: a
   * transient fault, which the engine retries or fails over to the next provider as the step's
   * policy says. Undefined: every run throws, so the step fails for good.
   */
  failures?: number;
  /** Index of the step during which the operation is cancelled (none when undefined). */
  cancelAt?: number;
  /**
   * Index of a step with `timeoutMs` or `heartbeatTimeoutMs` whose first run hangs past its
   * timeout instead of running yours, ignoring its signal, then returns late (a hung call): the
   * engine fails the attempt with `StepTimeoutError`, retries it as the step's policy says, or
   * rolls back. Generated only for steps that have a timeout.
   */
  stallAt?: number;
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

/** What `faultPlanArbitrary` needs of a step: how many runs the engine may give it. */
export type FaultPlanStep = Pick<
  Step<never, unknown>,
  'retry' | 'alternatives' | 'timeoutMs' | 'heartbeatTimeoutMs'
>;

/** How long a stalled run hangs: up to its first deadline, where its timer fires. */
const stallMsOf = (step: FaultPlanStep | undefined): number | undefined =>
  step?.heartbeatTimeoutMs ?? step?.timeoutMs;

/** Runs the engine may give a step before it fails for good: its attempts with each provider. */
const runsOf = (step: FaultPlanStep | undefined): number =>
  step ? step.retry.maxAttempts * (step.alternatives?.length ?? 1) : 1;

/**
 * Fault plans over an operation's steps: which step fails, and which one a cancel arrives
 * during. Given the steps themselves (not only how many), a plan may also make a step that is
 * retried or has alternatives fail only its first runs (`failures`), so that the retry or the
 * failover that follows is rolled back too. Shrinks towards no fault, then towards earlier steps.
 *
 * @example
 * const plans = faultPlanArbitrary(myOperation.steps);
 * fc.sample(plans, 3); // e.g. [{}, { failAt: 1 }, { failAt: 0, failures: 1, cancelAt: 2 }]
 */
export const faultPlanArbitrary = (
  steps: number | readonly FaultPlanStep[],
): Arbitrary<FaultPlan> => {
  const count = typeof steps === 'number' ? steps : steps.length;
  const runs = (i: number) => (typeof steps === 'number' ? 1 : runsOf(steps[i]));
  const mostRuns = Math.max(1, ...Array.from({ length: count }, (_, i) => runs(i)));
  const step = fc.option(fc.integer({ min: 0, max: count - 1 }), { nil: undefined });
  const timed =
    typeof steps === 'number'
      ? []
      : steps.flatMap((s, i) => (stallMsOf(s) !== undefined ? [i] : []));
  return fc
    .record({
      failAt: step,
      // Only for steps the engine runs more than once; fewer failures than runs, or it is not
      // transient. Generated for any step and dropped where it does not fit, to shrink simply.
      failures:
        mostRuns > 1
          ? fc.option(fc.integer({ min: 1, max: mostRuns - 1 }), { nil: undefined })
          : fc.constant(undefined),
      cancelAt: step,
      // A constant draws nothing: plans for steps without timeouts are what they always were.
      stallAt: timed.length
        ? fc.option(fc.constantFrom(...timed), { nil: undefined })
        : fc.constant(undefined),
    })
    .map((p) => ({
      ...(p.failAt !== undefined ? { failAt: p.failAt } : {}),
      ...(p.failAt !== undefined && p.failures !== undefined && p.failures < runs(p.failAt)
        ? { failures: p.failures }
        : {}),
      ...(p.cancelAt !== undefined ? { cancelAt: p.cancelAt } : {}),
      ...(p.stallAt !== undefined ? { stallAt: p.stallAt } : {}),
    }));
};

/**
 * The user's definition with only each step's `run` wrapped to strike as `plan` says. Every
 * other field (the steps' `when`, `alternatives`, `retry`, `undoRetry`, `interruptible`, `kind`,
 * `undo`, `timeoutMs`, `heartbeatTimeoutMs`, and the definition's params schema, `release`, `lifecycle`, `sensitive`) is the
 * user's own object, so the engine runs exactly the plan it would run in production, whatever
 * options a step has now or gains later.
 */
export const harnessedOperation = <P>(
  base: OperationDefinition<P>,
  plan: FaultPlan,
  cancel: (operationId: string) => Promise<unknown>,
  /** The engine's clock, on which a stalled run (`stallAt`) hangs. */
  clock?: Clock,
): OperationDefinition<P> => {
  const runs = base.steps.map(() => 0);
  let cancelled = false;
  const requestCancel = async (operationId: string) => {
    cancelled = true;
    await cancel(operationId);
  };
  return {
    ...base,
    steps: base.steps.map((s, i) => ({
      ...s,
      run: async (ctx: StepContext<P>) => {
        runs[i] = (runs[i] ?? 0) + 1;
        const injected =
          plan.failAt === i && (plan.failures === undefined || runs[i] <= plan.failures);
        // The cancel arrives during the first run the harness lets through to yours; when the
        // step fails for good, during its first run.
        const cancelHere =
          plan.cancelAt === i && !cancelled && (!injected || plan.failures === undefined);
        const stallMs = plan.stallAt === i && runs[i] === 1 ? stallMsOf(s) : undefined;
        if (stallMs !== undefined && clock) {
          if (cancelHere) await requestCancel(ctx.operationId);
          // Hangs to its deadline without looking at its signal, then returns: too late.
          await clock.sleep(stallMs);
          return undefined;
        }
        if (injected) {
          if (cancelHere) await requestCancel(ctx.operationId);
          throw new InjectedFailure(s.name);
        }
        if (!cancelHere) return s.run(ctx);
        // Your run starts, and the cancel is requested as soon as it first awaits: for an
        // interruptible step the engine then aborts `signal` while the run is in flight.
        const running = (async () => s.run(ctx))();
        running.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
        await requestCancel(ctx.operationId);
        return running;
      },
    })),
  };
};

/**
 * Runs the user's operation under generated failures and cancellations (see `FaultPlan`), on an
 * in-memory store with a virtual clock, exactly as the engine runs it but for the faults, and
 * checks that the verdict never lies: when the rollback says it succeeded, the observed world
 * equals what it was before; no undo failed. Returns a shrunk counterexample.
 *
 * @example
 * const check = await checkRollback({ operation: [startContainers, switchTraffic], observe, reset });
 * if (!check.ok) console.log(check.counterexample.problem, check.counterexample.plan);
 */
export const checkRollback = async <P, W>(
  options: RollbackHarnessOptions<P, W>,
): Promise<RollbackCheck<W>> => {
  const base: OperationDefinition<P> = Array.isArray(options.operation)
    ? defineOperation<P>({ type: 'harnessed', steps: options.operation as readonly StepDraft<P>[] })
    : (options.operation as OperationDefinition<P>);
  let counterexample: RollbackCounterexample<W> | undefined;

  const property = fc.asyncProperty(faultPlanArbitrary(base.steps), async (plan) => {
    await options.reset();
    const before = await options.observe();
    // The steps cancel through the engine that runs them, made just below.
    const ref: { engine?: Engine } = {};
    const clock = createVirtualClock();
    const engine = createEngine({
      store: createInMemoryEventStore(),
      operations: [
        harnessedOperation(
          base,
          plan,
          (id) => ref.engine!.cancel(id, { user: 'rollback-harness' }),
          clock,
        ),
      ],
      clock,
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
