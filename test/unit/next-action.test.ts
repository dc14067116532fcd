import { describe, expect, it } from 'vitest';
import {
  afterAttemptFailed,
  afterUndoFailed,
  cancelledBefore,
  failOperation,
  nextRollbackAction,
  nextStep,
  recovered,
  type RunStep,
  type StepPlan,
} from '../../src/domain/next-action.js';
import { foldOperation } from '../../src/domain/operation.js';
import { resolveRetryPolicy } from '../../src/domain/retry-policy.js';
import type { ErrorInfo, OperationEvent, StepKind } from '../../src/domain/events.js';
import { at, ran, requestedWith, started } from '../support/operation-history.js';

const boom: ErrorInfo = { name: 'Error', message: 'boom', causes: [] };
const fatal: ErrorInfo = { name: 'Fatal', message: 'no', causes: [] };

const plan = (
  name: string,
  options: { maxAttempts?: number; undoMax?: number; alternatives?: string[]; undo?: boolean } = {},
): StepPlan => ({
  name,
  retry: resolveRetryPolicy({
    maxAttempts: options.maxAttempts ?? 1,
    initialIntervalMs: 100,
    nonRetryable: ['Fatal'],
  }),
  undoRetry: resolveRetryPolicy({ maxAttempts: options.undoMax ?? 1, initialIntervalMs: 50 }),
  ...(options.alternatives ? { alternatives: options.alternatives } : {}),
  ...(options.undo === false ? {} : { undo: () => undefined }),
});

const requested = (...steps: Array<[string, StepKind]>) => requestedWith(steps);
const runOf = (step: StepPlan, providerIndex = 0, attempt = 1): RunStep => ({
  kind: 'run',
  step,
  providerIndex,
  provider: step.alternatives?.[providerIndex],
  attempt,
});

describe('nextStep', () => {
  const pull = plan('pull', { alternatives: ['a', 'b'] });
  const start = plan('start');
  const check = plan('check');
  const steps = { steps: [pull, start, check] };

  it('runs the first step not yet done, first attempt with the first provider', () => {
    const state = foldOperation([
      requested(['pull', 'no_side_effects'], ['start', 'undoable'], ['check', 'no_side_effects']),
      started,
    ]);
    expect(nextStep(state, steps)).toEqual(runOf(pull));
    expect(nextStep(state, steps)).toMatchObject({ provider: 'a' });
  });

  it('skips steps already done and steps left out of the plan, then succeeds', () => {
    const state = foldOperation([
      requested(['pull', 'no_side_effects'], ['check', 'no_side_effects']),
      started,
      ...ran('pull'),
    ]);
    expect(nextStep(state, steps)).toEqual(runOf(check));
    const done = foldOperation([requested(['pull', 'no_side_effects']), started, ...ran('pull')]);
    expect(nextStep(done, steps)).toEqual({ kind: 'succeed' });
  });
});

describe('afterAttemptFailed', () => {
  const state = foldOperation([requested(['pull', 'undoable']), started]);

  it('retries a retryable error with the same provider after the backoff delay', () => {
    const pull = plan('pull', { maxAttempts: 3, alternatives: ['a', 'b'] });
    const { data, next } = afterAttemptFailed(state, runOf(pull, 0, 2), 'error', boom, at);
    expect(data).toEqual({
      step: 'pull',
      attempt: 2,
      at,
      provider: 'a',
      error: boom,
      willRetry: true,
      retryInMs: 200,
    });
    expect(next).toEqual({ kind: 'wait', delayMs: 200, then: runOf(pull, 0, 3) });
  });

  it('fails over to the next provider once the attempts run out or the error is not retryable', () => {
    const pull = plan('pull', { maxAttempts: 3, alternatives: ['a', 'b'] });
    for (const [attempt, error] of [
      [3, boom],
      [1, fatal],
    ] as const) {
      const { data, next } = afterAttemptFailed(state, runOf(pull, 0, attempt), 'error', error, at);
      expect(data).toEqual({
        step: 'pull',
        attempt,
        at,
        provider: 'a',
        error,
        willRetry: false,
        failoverTo: 'b',
      });
      expect(next).toEqual(runOf(pull, 1, 1));
    }
  });

  it('fails the operation naming the step after the last provider', () => {
    const pull = plan('pull', { maxAttempts: 2, alternatives: ['a', 'b'] });
    const { data, next } = afterAttemptFailed(state, runOf(pull, 1, 2), 'error', boom, at);
    expect(data).toEqual({
      step: 'pull',
      attempt: 2,
      at,
      provider: 'b',
      error: boom,
      willRetry: false,
    });
    expect(next).toEqual({ kind: 'fail', reason: 'failure', step: 'pull', error: boom });
  });

  it('records no provider and no failover for a step without alternatives', () => {
    const pull = plan('pull', { maxAttempts: 1 });
    const { data, next } = afterAttemptFailed(state, runOf(pull), 'error', boom, at);
    // Strictly: a provider or failoverTo key set to undefined would be recorded in the event.
    expect(data).toStrictEqual({ step: 'pull', attempt: 1, at, error: boom, willRetry: false });
    expect(next).toStrictEqual({ kind: 'fail', reason: 'failure', step: 'pull', error: boom });
  });

  it('takes an output that cannot be recorded as possibly done, without retrying', () => {
    const pull = plan('pull', { maxAttempts: 3 });
    const { data, next } = afterAttemptFailed(state, runOf(pull), 'invalid_output', boom, at);
    expect(data).toEqual({
      step: 'pull',
      attempt: 1,
      at,
      error: boom,
      willRetry: false,
      possiblyDone: true,
    });
    expect(next).toEqual({ kind: 'fail', reason: 'failure', step: 'pull', error: boom });
  });

  it('stops on a cancel that aborted the attempt, naming the step', () => {
    const pull = plan('pull', { maxAttempts: 3, alternatives: ['a', 'b'] });
    const { data, next } = afterAttemptFailed(state, runOf(pull), 'cancelled', boom, at);
    expect(data).toEqual({
      step: 'pull',
      attempt: 1,
      at,
      provider: 'a',
      error: boom,
      willRetry: false,
      cancelled: true,
    });
    expect(next).toMatchObject({ kind: 'fail', reason: 'cancellation', step: 'pull' });
    expect(next).toMatchObject({ error: { code: 'OPERATION_CANCELLED' } });
  });
});

describe('cancelledBefore', () => {
  const state = foldOperation([requested(['pull', 'undoable']), started]);
  const pull = plan('pull', { maxAttempts: 2, alternatives: ['a', 'b'] });

  it('names no step before its first attempt: the step never ran', () => {
    expect(Object.keys(cancelledBefore(state, runOf(pull))).sort()).toEqual([
      'error',
      'kind',
      'reason',
    ]);
  });

  it('names the step before a retry or a failover', () => {
    expect(cancelledBefore(state, runOf(pull, 0, 2))).toMatchObject({ step: 'pull' });
    expect(cancelledBefore(state, runOf(pull, 1, 1))).toMatchObject({ step: 'pull' });
  });
});

describe('failOperation', () => {
  const failure = { kind: 'fail', reason: 'failure', step: 'pull', error: boom } as const;

  it('requires a rollback when the operation ran and has a step with side effects', () => {
    const state = foldOperation([requested(['pull', 'undoable']), started]);
    expect(failOperation(state, failure, at)).toEqual({
      type: 'FailOperation',
      data: { reason: 'failure', error: boom, rollbackRequired: true, at, failedStep: 'pull' },
    });
  });

  it('requires none when every step is free of side effects or the operation never started', () => {
    const pure = foldOperation([requested(['pull', 'no_side_effects']), started]);
    expect(failOperation(pure, failure, at).data.rollbackRequired).toBe(false);
    const queued = foldOperation([requested(['pull', 'undoable'])]);
    expect(failOperation(queued, failure, at).data.rollbackRequired).toBe(false);
  });
});

describe('recovered', () => {
  it('names the step a crash left running', () => {
    const state = foldOperation([
      requested(['pull', 'undoable']),
      started,
      { type: 'StepStarted', data: { step: 'pull', attempt: 1, at } },
    ]);
    expect(recovered(state)).toStrictEqual({
      kind: 'fail',
      reason: 'recovery',
      step: 'pull',
      error: {
        name: 'InterruptedOperation',
        message:
          "the process running this operation stopped while step 'pull' was running, so its outcome is unknown; recovered by rolling back",
        causes: [],
      },
    });
  });

  it('names no step when the crash came between steps', () => {
    const state = foldOperation([requested(['pull', 'undoable']), started, ...ran('pull')]);
    expect(recovered(state)).toStrictEqual({
      kind: 'fail',
      reason: 'recovery',
      error: {
        name: 'InterruptedOperation',
        message:
          'the process running this operation stopped before it ended; recovered by rolling back',
        causes: [],
      },
    });
  });
});

describe('nextRollbackAction', () => {
  const rollingBack = (...events: OperationEvent[]) =>
    foldOperation([
      requested(['a', 'undoable'], ['b', 'irreversible'], ['c', 'undoable'], ['d', 'undoable']),
      started,
      ...ran('a'),
      ...ran('b'),
      ...ran('c'),
      {
        type: 'OperationFailed',
        data: { reason: 'failure', failedStep: 'd', error: boom, rollbackRequired: true, at },
      },
      { type: 'RollbackStarted', data: { reason: 'failure', plan: ['c', 'b', 'a'], at } },
      ...events,
    ]);
  const steps = { steps: [plan('a'), plan('b', { undo: false }), plan('c'), plan('d')] };

  it('undoes the newest change first, then reports the irreversible one, then the older', () => {
    expect(nextRollbackAction(rollingBack(), steps)).toMatchObject({
      kind: 'undo',
      step: { name: 'c' },
      candidate: { step: 'c', outcome: 'succeeded' },
      attempt: 1,
    });
    const cUndone: OperationEvent[] = [
      { type: 'StepUndoStarted', data: { step: 'c', attempt: 1, outcome: 'succeeded', at } },
      { type: 'StepUndone', data: { step: 'c', attempt: 1, at } },
    ];
    expect(nextRollbackAction(rollingBack(...cUndone), steps)).toEqual({
      kind: 'report',
      step: 'b',
    });
    const bReported: OperationEvent = {
      type: 'StepNotUndoable',
      data: { step: 'b', reason: 'irreversible', at },
    };
    expect(nextRollbackAction(rollingBack(...cUndone, bReported), steps)).toMatchObject({
      kind: 'undo',
      step: { name: 'a' },
    });
  });

  it('records a missing undo when the plan has none for an undoable step', () => {
    expect(nextRollbackAction(rollingBack(), { steps: [plan('c', { undo: false })] })).toEqual({
      kind: 'missing_undo',
      step: 'c',
      error: {
        name: 'MissingUndo',
        message:
          "this engine has no undo for step 'c' of operation type 'deploy'; register the definition and call continueRollback",
        causes: [],
      },
    });
    expect(nextRollbackAction(rollingBack(), undefined)).toMatchObject({ kind: 'missing_undo' });
  });

  it('finishes when nothing is left', () => {
    const done: OperationEvent[] = ['c', 'a'].flatMap((step): OperationEvent[] => [
      { type: 'StepUndoStarted', data: { step, attempt: 1, outcome: 'succeeded', at } },
      { type: 'StepUndone', data: { step, attempt: 1, at } },
    ]);
    const bReported: OperationEvent = {
      type: 'StepNotUndoable',
      data: { step: 'b', reason: 'irreversible', at },
    };
    expect(nextRollbackAction(rollingBack(...done, bReported), steps)).toEqual({
      kind: 'finish',
    });
  });
});

describe('afterUndoFailed', () => {
  it('retries with backoff until the undo policy runs out, or for good on a non-retryable error', () => {
    const step = {
      ...plan('a'),
      undoRetry: resolveRetryPolicy({
        maxAttempts: 3,
        initialIntervalMs: 50,
        nonRetryable: ['Fatal'],
      }),
    };
    expect(afterUndoFailed(step, 1, boom)).toEqual({ willRetry: true, retryInMs: 50 });
    expect(afterUndoFailed(step, 2, boom)).toEqual({ willRetry: true, retryInMs: 100 });
    expect(afterUndoFailed(step, 3, boom)).toEqual({ willRetry: false });
    expect(afterUndoFailed(step, 1, fatal)).toEqual({ willRetry: false });
  });
});
