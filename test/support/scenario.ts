import fc from 'fast-check';
import {
  defineOperation,
  step,
  type Engine,
  type OperationDefinition,
  type StepKind,
} from '../../src/index.js';
import { untilAborted } from './gate.js';

/** One step of a generated plan, with the faults injected into it. */
export interface StepModel {
  kind: StepKind;
  maxAttempts: number;
  /** The first N attempts throw before touching the world; N >= maxAttempts fails the step. */
  failAttempts: number;
  /** The undo throws on every attempt (only meaningful for undoable steps). */
  undoFails: boolean;
}

export interface Scenario {
  steps: StepModel[];
  /** Cancel while this step runs: 'abort' honours the signal, 'finish' is not interruptible. */
  cancel?: { at: number; mode: 'abort' | 'finish' };
}

export const stepModelArb: fc.Arbitrary<StepModel> = fc.record({
  kind: fc.constantFrom<StepKind>('undoable', 'undoable', 'irreversible', 'no_side_effects'),
  maxAttempts: fc.integer({ min: 1, max: 3 }),
  failAttempts: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 })),
  undoFails: fc.boolean(),
});

export const scenarioArb: fc.Arbitrary<Scenario> = fc
  .array(stepModelArb, { minLength: 1, maxLength: 6 })
  .chain((steps) =>
    fc.record({
      steps: fc.constant(steps),
      cancel: fc.option(
        fc.record({
          at: fc.integer({ min: 0, max: steps.length - 1 }),
          mode: fc.constantFrom<'abort' | 'finish'>('abort', 'finish'),
        }),
        { nil: undefined },
      ),
    }),
  )
  .map(({ steps, cancel }) => (cancel ? { steps, cancel } : { steps }));

/** The world the generated steps act on, and a journal of what really ran. */
export interface World {
  state: Map<string, string>;
  runs: string[];
  undos: string[];
}

export const createWorld = (): World => ({ state: new Map(), runs: [], undos: [] });

export const stepName = (i: number) => `s${i}`;

/**
 * Turns a scenario into an operation definition over `world`. `engine()` is read when a cancel
 * point is reached, so the same definition works for an engine that dies and its successor.
 */
export const scenarioOperation = (
  scenario: Scenario,
  world: World,
  engine: () => Engine,
  type = 'generated',
): OperationDefinition =>
  defineOperation({
    type,
    steps: scenario.steps.map((m, i) => {
      const name = stepName(i);
      const cancelHere = scenario.cancel?.at === i ? scenario.cancel.mode : undefined;
      const key = (operationId: string) => `${operationId}:${name}`;
      const common = {
        name,
        retry: { maxAttempts: m.maxAttempts, initialIntervalMs: 10 },
        undoRetry: { maxAttempts: 2, initialIntervalMs: 10 },
        interruptible: cancelHere !== 'finish',
        run: async ({
          operationId,
          attempt,
          signal,
        }: {
          operationId: string;
          attempt: number;
          signal: AbortSignal;
        }) => {
          if (cancelHere && attempt === 1) {
            // If the store died under us the cancel is lost, and so is this process: stop here.
            await engine().cancel(operationId, { user: 'canceller' });
            if (cancelHere === 'abort') await untilAborted(signal);
          }
          if (attempt <= m.failAttempts) throw new Error(`${name} attempt ${attempt} failed`);
          world.runs.push(key(operationId));
          if (m.kind !== 'no_side_effects') world.state.set(key(operationId), m.kind);
          return { name };
        },
      };
      if (m.kind !== 'undoable') return step({ ...common, kind: m.kind });
      return step({
        ...common,
        undo: ({ operationId }) => {
          world.undos.push(key(operationId));
          if (m.undoFails) throw new Error(`undo of ${name} failed`);
          world.state.delete(key(operationId));
        },
      });
    }),
  });

/** What the scenario must end as, computed from the model alone. */
export const expectedEnd = (scenario: Scenario) => {
  for (let i = 0; i < scenario.steps.length; i++) {
    const m = scenario.steps[i]!;
    if (scenario.cancel?.at === i) {
      // A cancel that is honoured stops the step; one that is not lets it finish (or fail) first.
      const finished = scenario.cancel.mode === 'finish' && m.failAttempts === 0;
      return {
        status: 'failed' as const,
        cancelled: true,
        lastStepRun: finished ? i : i - 1,
        failedStep: finished ? undefined : stepName(i),
      };
    }
    if (m.failAttempts >= m.maxAttempts) {
      return {
        status: 'failed' as const,
        cancelled: false,
        lastStepRun: i - 1,
        failedStep: stepName(i),
      };
    }
  }
  return {
    status: 'succeeded' as const,
    cancelled: false,
    lastStepRun: scenario.steps.length - 1,
    failedStep: undefined,
  };
};
