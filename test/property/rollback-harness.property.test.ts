import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  type OperationDefinition,
  type StepKind,
} from '../../src/index.js';
import {
  createSequentialIds,
  createVirtualClock,
  InjectedFailure,
  type FaultPlan,
} from '../../src/testing/index.js';
import { harnessedOperation } from '../../src/testing/rollback-harness.js';

/** A generated step: its options, and how the world it runs in misbehaves. */
interface StepModel {
  kind: StepKind;
  /** undefined: no `when`; otherwise what it says for the params. */
  applies: boolean | undefined;
  alternatives: string[] | undefined;
  maxAttempts: number;
  undoMaxAttempts: number | undefined;
  interruptible: boolean | undefined;
  /** The world refuses the first N runs and the first M undos. */
  runFailures: number;
  undoFailures: number;
}

const stepModel: fc.Arbitrary<StepModel> = fc.record({
  kind: fc.constantFrom<StepKind>('undoable', 'undoable', 'irreversible', 'no_side_effects'),
  applies: fc.constantFrom(undefined, true, false),
  alternatives: fc.constantFrom(undefined, ['a', 'b'], ['a', 'b', 'c']),
  maxAttempts: fc.integer({ min: 1, max: 3 }),
  undoMaxAttempts: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  interruptible: fc.constantFrom(undefined, true, false),
  runFailures: fc.integer({ min: 0, max: 4 }),
  undoFailures: fc.integer({ min: 0, max: 2 }),
});

type Params = { applies: Record<string, boolean> };

/**
 * The definition the user wrote, in a fresh world that journals every run and undo. `faulty`
 * builds the oracle: the same steps in a world where step `failAt` itself throws
 * InjectedFailure on its first `failures` runs (all of them when undefined), as the harness
 * makes it.
 */
const build = (models: StepModel[], faulty: FaultPlan = {}) => {
  const journal: string[] = [];
  const definition: OperationDefinition<Params> = defineOperation<Params>({
    type: 'generated',
    release: ({ outputs }) => `release-${Object.keys(outputs).length}`,
    steps: models.map((m, i) => {
      const name = `s${i}`;
      let runs = 0;
      let worldRuns = 0;
      let undos = 0;
      return step<Params, { at: string }>({
        name,
        kind: m.kind,
        retry: { maxAttempts: m.maxAttempts, initialIntervalMs: 10 * (i + 1) },
        ...(m.undoMaxAttempts !== undefined
          ? { undoRetry: { maxAttempts: m.undoMaxAttempts, initialIntervalMs: 7 } }
          : {}),
        ...(m.alternatives ? { alternatives: m.alternatives } : {}),
        ...(m.interruptible !== undefined ? { interruptible: m.interruptible } : {}),
        ...(m.applies !== undefined ? { when: (p: Params) => p.applies[name] ?? true } : {}),
        run: async ({ attempt, provider }) => {
          runs++;
          if (faulty.failAt === i && (faulty.failures === undefined || runs <= faulty.failures))
            throw new InjectedFailure(name);
          await Promise.resolve();
          const at = `${name}#${attempt}@${provider ?? '-'}`;
          if (++worldRuns <= m.runFailures) {
            journal.push(`refused ${at}`);
            throw new Error(`${name} refused`);
          }
          journal.push(`ran ${at}`);
          return { at };
        },
        ...(m.kind === 'undoable'
          ? {
              undo: async ({ output, attempt }: { output?: { at: string }; attempt: number }) => {
                await Promise.resolve();
                if (++undos <= m.undoFailures) {
                  journal.push(`undo refused ${name}#${attempt}`);
                  throw new Error(`${name} undo refused`);
                }
                journal.push(`undid ${output?.at ?? name}`);
              },
            }
          : {}),
      });
    }),
  });
  const params: Params = {
    applies: Object.fromEntries(
      models.flatMap((m, i) => (m.applies === undefined ? [] : [[`s${i}`, m.applies]])),
    ),
  };
  return { definition, journal, params };
};

/** Runs a definition on a fresh engine; what it wrote and what its steps did. */
const runOnEngine = async (definition: OperationDefinition<Params>, params: Params) => {
  const store = createInMemoryEventStore();
  const engine = createEngine({
    store,
    operations: [definition],
    clock: createVirtualClock(),
    ids: createSequentialIds('p-'),
  });
  const handle = await engine.start({
    type: definition.type,
    environment: 'e',
    resource: { type: 'app', handle: 'h' },
    user: 'u',
    params,
  });
  const result = await handle.result;
  const events = (await store.readStream(`operation-${result.id}`)).map((e) => ({
    type: e.type,
    data: e.data,
  }));
  return { result, events };
};

/** Fault plans without a cancel: their effect can be written as a world that fails instead. */
const failurePlan = (models: StepModel[]): fc.Arbitrary<FaultPlan> =>
  fc
    .record({
      failAt: fc.option(fc.integer({ min: 0, max: models.length - 1 }), { nil: undefined }),
      failures: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
    })
    .map(({ failAt, failures }) =>
      failAt === undefined ? {} : failures === undefined ? { failAt } : { failAt, failures },
    );

describe('the rollback harness runs exactly the plan the engine runs', () => {
  it('same events and same world as the engine running the user definition, for every step option (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .array(stepModel, { minLength: 1, maxLength: 5 })
          .chain((models) => fc.tuple(fc.constant(models), failurePlan(models))),
        async ([models, plan]) => {
          // The engine refuses an operation none of whose steps applies.
          fc.pre(models.some((m) => m.applies !== false));
          const mine = build(models);
          const harnessed = await runOnEngine(
            harnessedOperation(mine.definition, plan, () => {
              throw new Error('no cancel in these plans');
            }),
            mine.params,
          );
          const oracle = build(models, plan);
          const plain = await runOnEngine(oracle.definition, oracle.params);
          expect(harnessed.events).toEqual(plain.events);
          expect(mine.journal).toEqual(oracle.journal);
          expect(harnessed.result).toEqual(plain.result);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("keeps every field of the user's steps and definition but the steps' run", () => {
    const { definition } = build([
      {
        kind: 'undoable',
        applies: false,
        alternatives: ['a', 'b'],
        maxAttempts: 2,
        undoMaxAttempts: 3,
        interruptible: false,
        runFailures: 0,
        undoFailures: 0,
      },
    ]);
    const harnessed = harnessedOperation(definition, { failAt: 0 }, async () => undefined);
    const { steps, ...rest } = harnessed;
    const { steps: userSteps, ...userRest } = definition;
    expect(rest).toEqual(userRest);
    for (const [key, value] of Object.entries(userRest))
      expect(rest[key as keyof typeof rest]).toBe(value);
    const [mine, user] = [steps[0]!, userSteps[0]!];
    expect(Object.keys(mine).sort()).toEqual(Object.keys(user).sort());
    for (const key of Object.keys(user) as (keyof typeof user)[]) {
      if (key === 'run') expect(mine.run).not.toBe(user.run);
      else expect(mine[key]).toBe(user[key]);
    }
  });
});
