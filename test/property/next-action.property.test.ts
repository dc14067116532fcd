import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, type OperationCommand } from '../../src/domain/decide.js';
import type { ErrorInfo, OperationEvent, StepKind } from '../../src/domain/events.js';
import {
  afterAttemptFailed,
  afterUndoFailed,
  failOperation,
  nextRollbackAction,
  nextStep,
  type AttemptFailure,
  type ForwardAction,
  type StepFailedData,
  type StepPlan,
} from '../../src/domain/next-action.js';
import { evolve, initialState, type OperationState } from '../../src/domain/operation.js';
import { resolveRetryPolicy } from '../../src/domain/retry-policy.js';

/**
 * For random plans and random step outcomes, the decisions the domain makes at each point of
 * the folded history are those of the engine's rules, written out here as plain nested loops:
 * retry with a provider until its attempts run out (or a non-retryable error), then the next
 * alternative, then fail and roll back the completed steps with side effects, newest first;
 * the verdict names what was not undone.
 */

const at = '2026-01-05T00:00:00.000Z';
const INITIAL_MS = 100;
const UNDO_INITIAL_MS = 50;

type RunOutcome = 'ok' | 'error' | 'fatal' | 'invalid' | 'cancelled';
type UndoOutcome = 'ok' | 'error' | 'fatal';

interface StepCase {
  kind: StepKind;
  maxAttempts: number;
  undoMax: number;
  alternatives?: string[];
  hasUndo: boolean;
}

const stepCaseArb: fc.Arbitrary<StepCase> = fc.record(
  {
    kind: fc.constantFrom<StepKind>('undoable', 'irreversible', 'no_side_effects'),
    maxAttempts: fc.integer({ min: 1, max: 3 }),
    undoMax: fc.integer({ min: 1, max: 3 }),
    alternatives: fc.uniqueArray(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 }),
    // Mostly there: a missing undo is a definition this engine does not have.
    hasUndo: fc.boolean().chain((b) => (b ? fc.constant(true) : fc.boolean())),
  },
  { requiredKeys: ['kind', 'maxAttempts', 'undoMax', 'hasUndo'] },
);

const caseArb = fc.record({
  steps: fc.array(stepCaseArb, { minLength: 1, maxLength: 4 }),
  runs: fc.array(
    fc.constantFrom<RunOutcome>('ok', 'ok', 'error', 'error', 'fatal', 'invalid', 'cancelled'),
    {
      maxLength: 16,
    },
  ),
  undos: fc.array(fc.constantFrom<UndoOutcome>('ok', 'ok', 'error', 'fatal'), { maxLength: 10 }),
});

const errorOf = (outcome: RunOutcome | UndoOutcome): ErrorInfo => ({
  name: outcome === 'fatal' ? 'Fatal' : 'Error',
  message: outcome,
  causes: [],
});

const planOf = (steps: StepCase[]): StepPlan[] =>
  steps.map((s, i) => ({
    name: `s${i}`,
    retry: resolveRetryPolicy({
      maxAttempts: s.maxAttempts,
      initialIntervalMs: INITIAL_MS,
      nonRetryable: ['Fatal'],
    }),
    undoRetry: resolveRetryPolicy({
      maxAttempts: s.undoMax,
      initialIntervalMs: UNDO_INITIAL_MS,
      nonRetryable: ['Fatal'],
    }),
    ...(s.alternatives ? { alternatives: s.alternatives } : {}),
    ...(s.hasUndo ? { undo: () => undefined } : {}),
  }));

/** Drives the pure decisions over the folded events, as the engine's loop does. */
const drive = (steps: StepCase[], runs: RunOutcome[], undos: UndoOutcome[]) => {
  const plan = { steps: planOf(steps) };
  const trace: string[] = [];
  const events: OperationEvent[] = [];
  let state: OperationState = initialState();
  const exec = (command: OperationCommand) => {
    const decision = decide(command, state);
    if (E.isLeft(decision)) throw decision.left;
    for (const event of decision.right) {
      events.push(event);
      state = evolve(state, event);
    }
  };
  exec({
    type: 'RequestOperation',
    data: {
      operationId: 'op-1',
      type: 'deploy',
      environment: 'production',
      resource: { type: 'app', handle: 'web' },
      user: 'ada@example.com',
      params: {},
      createdAt: at,
      steps: steps.map((s, i) => ({ name: `s${i}`, kind: s.kind })),
    },
  });
  exec({ type: 'StartOperation', data: { at } });
  let r = 0;
  let action: ForwardAction = nextStep(state, plan);
  for (let forward = true; forward;) {
    switch (action.kind) {
      case 'run': {
        const { step, provider, attempt } = action;
        trace.push(`run ${step.name} ${provider} ${attempt}`);
        exec({
          type: 'StartStep',
          data: { step: step.name, attempt, at, ...(provider ? { provider } : {}) },
        });
        const outcome = runs[r++] ?? 'ok';
        if (outcome === 'ok') {
          exec({ type: 'CompleteStep', data: { step: step.name, attempt, at } });
          action = nextStep(state, plan);
          break;
        }
        const failure: AttemptFailure =
          outcome === 'invalid'
            ? 'invalid_output'
            : outcome === 'cancelled'
              ? 'cancelled'
              : 'error';
        const after: { data: StepFailedData; next: ForwardAction } = afterAttemptFailed(
          state,
          action,
          failure,
          errorOf(outcome),
          at,
        );
        exec({ type: 'FailStep', data: after.data });
        action = after.next;
        break;
      }
      case 'wait':
        trace.push(`wait ${action.delayMs}`);
        action = action.then;
        break;
      case 'succeed':
        trace.push('succeed');
        exec({ type: 'SucceedOperation', data: { at } });
        forward = false;
        break;
      case 'fail':
        trace.push(`fail ${action.reason} ${action.step}`);
        exec(failOperation(state, action, at));
        forward = false;
        break;
    }
  }
  if (state.failure?.rollbackRequired) {
    trace.push('rollback');
    exec({ type: 'StartRollback', data: { at } });
    let u = 0;
    for (;;) {
      const next = nextRollbackAction(state, plan);
      if (next.kind === 'finish') break;
      if (next.kind === 'report') {
        trace.push(`report ${next.step}`);
        exec({ type: 'ReportNotUndoable', data: { step: next.step, at } });
        continue;
      }
      if (next.kind === 'missing_undo') {
        trace.push(`missing ${next.step}`);
        exec({ type: 'StartUndo', data: { step: next.step, attempt: 1, at } });
        exec({
          type: 'FailUndo',
          data: { step: next.step, attempt: 1, willRetry: false, at, error: next.error },
        });
        continue;
      }
      for (let attempt = next.attempt; ; attempt++) {
        trace.push(`undo ${next.step.name} ${next.candidate.outcome} ${attempt}`);
        exec({ type: 'StartUndo', data: { step: next.step.name, attempt, at } });
        const outcome = undos[u++] ?? 'ok';
        if (outcome === 'ok') {
          exec({ type: 'CompleteUndo', data: { step: next.step.name, attempt, at } });
          break;
        }
        const then = afterUndoFailed(next.step, attempt, errorOf(outcome));
        exec({
          type: 'FailUndo',
          data: { step: next.step.name, attempt, error: errorOf(outcome), at, ...then },
        });
        if (!then.willRetry) break;
        trace.push(`wait ${then.retryInMs}`);
      }
    }
    exec({ type: 'FinishRollback', data: { at } });
    const finished = events.at(-1);
    if (finished?.type !== 'RollbackFinished') throw new Error('no RollbackFinished');
    trace.push(
      `finish ${finished.data.outcome} ${finished.data.notUndone.map((n) => `${n.step}:${n.reason}`).join(',')}`,
    );
  }
  return { trace, state };
};

/** The engine's rules, as the loops it ran before the decisions moved to the domain. */
const reference = (steps: StepCase[], runs: RunOutcome[], undos: UndoOutcome[]): string[] => {
  const trace: string[] = [];
  const done: Array<{ index: number; outcome: 'succeeded' | 'unknown' }> = [];
  let r = 0;
  let failed = false;
  forward: for (const [index, step] of steps.entries()) {
    const providers = step.alternatives ?? [undefined];
    for (let p = 0; p < providers.length; p++) {
      for (let attempt = 1; attempt <= step.maxAttempts; attempt++) {
        trace.push(`run s${index} ${providers[p]} ${attempt}`);
        const outcome = runs[r++] ?? 'ok';
        if (outcome === 'ok') {
          done.push({ index, outcome: 'succeeded' });
          continue forward;
        }
        if (outcome === 'cancelled') {
          trace.push(`fail cancellation s${index}`);
          failed = true;
          break forward;
        }
        if (outcome === 'invalid') {
          done.push({ index, outcome: 'unknown' });
          trace.push(`fail failure s${index}`);
          failed = true;
          break forward;
        }
        if (attempt < step.maxAttempts && outcome !== 'fatal') {
          trace.push(`wait ${INITIAL_MS * 2 ** (attempt - 1)}`);
          continue;
        }
        if (p + 1 < providers.length) break;
        trace.push(`fail failure s${index}`);
        failed = true;
        break forward;
      }
    }
  }
  if (!failed) return [...trace, 'succeed'];
  if (steps.every((s) => s.kind === 'no_side_effects')) return trace;
  trace.push('rollback');
  const notUndone: string[] = [];
  let u = 0;
  for (const { index, outcome } of done.reverse()) {
    const step = steps[index] as StepCase;
    if (step.kind === 'no_side_effects') continue;
    if (step.kind === 'irreversible') {
      trace.push(`report s${index}`);
      notUndone.push(`s${index}:irreversible`);
      continue;
    }
    if (!step.hasUndo) {
      trace.push(`missing s${index}`);
      notUndone.push(`s${index}:undo_failed`);
      continue;
    }
    for (let attempt = 1; attempt <= step.undoMax; attempt++) {
      trace.push(`undo s${index} ${outcome} ${attempt}`);
      const result = undos[u++] ?? 'ok';
      if (result === 'ok') break;
      if (attempt < step.undoMax && result !== 'fatal') {
        trace.push(`wait ${UNDO_INITIAL_MS * 2 ** (attempt - 1)}`);
        continue;
      }
      notUndone.push(`s${index}:undo_failed`);
      break;
    }
  }
  trace.push(`finish ${notUndone.length === 0 ? 'succeeded' : 'failed'} ${notUndone.join(',')}`);
  return trace;
};

describe('the decisions over random histories', () => {
  it('match the engine rules: retries, failover, rollback newest first, the verdict', () => {
    fc.assert(
      fc.property(caseArb, ({ steps, runs, undos }) => {
        const { trace, state } = drive(steps, runs, undos);
        expect(trace).toEqual(reference(steps, runs, undos));
        // Every history the decisions write ends the operation.
        expect(state.finishedAt).toBe(at);
      }),
      { numRuns: 500 },
    );
  });
});
