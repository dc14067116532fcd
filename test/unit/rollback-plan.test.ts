import { describe, expect, it } from 'vitest';
import type { OperationEvent, StepKind } from '../../src/domain/events.js';
import { foldOperation } from '../../src/domain/operation.js';
import {
  needsRollback,
  notUndone,
  pendingRollback,
  stepsWithSideEffects,
} from '../../src/domain/rollback-plan.js';
import {
  at,
  ran,
  requestedWith as requested,
  started,
  stepStarted,
} from '../support/operation-history.js';

const error = { name: 'Error', message: 'boom', causes: [] };

const stepFailed = (step: string, more: { willRetry?: boolean; possiblyDone?: boolean } = {}) =>
  ({
    type: 'StepFailed',
    data: { step, attempt: 1, error, willRetry: false, at, ...more },
  }) as OperationEvent;
const failed: OperationEvent = {
  type: 'OperationFailed',
  data: { reason: 'failure', error, rollbackRequired: true, at },
};
const rollbackStarted: OperationEvent = {
  type: 'RollbackStarted',
  data: { reason: 'failure', plan: [], at },
};
const undone = (step: string): OperationEvent[] => [
  { type: 'StepUndoStarted', data: { step, attempt: 1, outcome: 'succeeded', at } },
  { type: 'StepUndone', data: { step, attempt: 1, at } },
];
const undoFailed = (step: string, willRetry = false): OperationEvent[] => [
  { type: 'StepUndoStarted', data: { step, attempt: 1, outcome: 'succeeded', at } },
  {
    type: 'StepUndoFailed',
    data: { step, attempt: 1, willRetry, at, error: { ...error, message: `${step} undo` } },
  },
];
const reported = (step: string, reason: 'irreversible' | 'skipped'): OperationEvent => ({
  type: 'StepNotUndoable',
  data: { step, reason, at },
});

const plan: [string, StepKind][] = [
  ['pull', 'undoable'],
  ['migrate', 'irreversible'],
  ['check', 'no_side_effects'],
  ['start', 'undoable'],
];

describe('the rollback plan: steps with side effects', () => {
  it('given steps that completed, then the candidates are the steps with side effects, newest completion first, with their output and provider', () => {
    const state = foldOperation([
      requested(plan),
      started,
      // Completed out of plan order: the order of completion decides, not the plan.
      ...ran('start', { container: 'c-1' }, 'registry-b'),
      ...ran('check', { healthy: true }),
      ...ran('migrate'),
      ...ran('pull', { image: 'web:v2' }),
    ]);
    expect(stepsWithSideEffects(state)).toStrictEqual([
      { step: 'pull', kind: 'undoable', outcome: 'succeeded', output: { image: 'web:v2' } },
      { step: 'migrate', kind: 'irreversible', outcome: 'succeeded' },
      {
        step: 'start',
        kind: 'undoable',
        outcome: 'succeeded',
        output: { container: 'c-1' },
        provider: 'registry-b',
      },
    ]);
  });

  it('given a step started and never finished (a crash), then it is the newest candidate, its outcome unknown, with its provider', () => {
    const state = foldOperation([
      requested(plan),
      started,
      ...ran('pull', { image: 'web:v2' }),
      stepStarted('start', 'registry-a'),
    ]);
    expect(stepsWithSideEffects(state)).toStrictEqual([
      { step: 'start', kind: 'undoable', outcome: 'unknown', provider: 'registry-a' },
      { step: 'pull', kind: 'undoable', outcome: 'succeeded', output: { image: 'web:v2' } },
    ]);
  });

  it('given a step that threw, then it is not a candidate: a run that throws is taken as not done', () => {
    const state = foldOperation([
      requested(plan),
      started,
      ...ran('pull'),
      stepStarted('migrate'),
      stepFailed('migrate'),
    ]);
    expect(stepsWithSideEffects(state).map((c) => c.step)).toEqual(['pull']);
  });

  it('given a step that threw with a retry due, then it is not a candidate until it runs again', () => {
    const state = foldOperation([
      requested(plan),
      started,
      stepStarted('pull'),
      stepFailed('pull', { willRetry: true }),
    ]);
    expect(stepsWithSideEffects(state)).toEqual([]);
  });

  it('given a step that ran but whose result could not be recorded, then it is a candidate of unknown outcome in its completion order', () => {
    const state = foldOperation([
      requested(plan),
      started,
      stepStarted('start'),
      stepFailed('start', { possiblyDone: true }),
      ...ran('pull'),
    ]);
    expect(stepsWithSideEffects(state)).toStrictEqual([
      { step: 'pull', kind: 'undoable', outcome: 'succeeded' },
      { step: 'start', kind: 'undoable', outcome: 'unknown' },
    ]);
  });
});

describe('the rollback plan: what is pending and what stays', () => {
  const ranAll = [
    requested(plan),
    started,
    ...ran('pull'),
    ...ran('migrate'),
    ...ran('check'),
    ...ran('start'),
    failed,
  ];

  it('given a rollback just started, then every undoable and irreversible step is pending, newest first', () => {
    const state = foldOperation([...ranAll, rollbackStarted]);
    expect(pendingRollback(state).map((c) => c.step)).toEqual(['start', 'migrate', 'pull']);
    expect(notUndone(state)).toEqual([
      { step: 'start', reason: 'undo_failed', error: 'the undo never ran' },
      { step: 'migrate', reason: 'irreversible' },
      { step: 'pull', reason: 'undo_failed', error: 'the undo never ran' },
    ]);
  });

  it('given steps undone, reported or failed for good, then none of them is pending and only the undone ones are restored', () => {
    const state = foldOperation([
      ...ranAll,
      rollbackStarted,
      ...undone('start'),
      reported('migrate', 'irreversible'),
      ...undoFailed('pull'),
    ]);
    expect(pendingRollback(state)).toEqual([]);
    expect(notUndone(state)).toEqual([
      { step: 'migrate', reason: 'irreversible' },
      { step: 'pull', reason: 'undo_failed', error: 'pull undo' },
    ]);
  });

  it('given an undo that failed with a retry due, then its step is still pending', () => {
    const state = foldOperation([...ranAll, rollbackStarted, ...undoFailed('start', true)]);
    expect(pendingRollback(state).map((c) => c.step)).toEqual(['start', 'migrate', 'pull']);
  });

  it('given a continued rollback, then steps undone stay done, skipped steps stay in place, and failed undos and irreversible steps are due again', () => {
    const state = foldOperation([
      ...ranAll,
      rollbackStarted,
      ...undone('start'),
      reported('migrate', 'irreversible'),
      ...undoFailed('pull'),
      { type: 'RollbackFinished', data: { outcome: 'failed', notUndone: [], at } },
      {
        type: 'RollbackStarted',
        data: { reason: 'continue', plan: ['pull'], skip: [], at },
      },
    ]);
    expect(pendingRollback(state).map((c) => c.step)).toEqual(['migrate', 'pull']);

    const skipped = foldOperation([
      ...ranAll,
      rollbackStarted,
      ...undoFailed('start'),
      { type: 'RollbackFinished', data: { outcome: 'failed', notUndone: [], at } },
      {
        type: 'RollbackStarted',
        data: { reason: 'continue', plan: ['start', 'pull'], skip: ['start'], at },
      },
      reported('start', 'skipped'),
    ]);
    expect(pendingRollback(skipped).map((c) => c.step)).toEqual(['migrate', 'pull']);
    expect(notUndone(skipped)).toEqual([
      { step: 'start', reason: 'skipped' },
      { step: 'migrate', reason: 'irreversible' },
      { step: 'pull', reason: 'undo_failed', error: 'the undo never ran' },
    ]);
  });
});

describe('the rollback plan: whether a rollback is needed', () => {
  it('given an operation with a step that may change the world, then a rollback is needed, even before that step ran', () => {
    expect(needsRollback(foldOperation([requested(plan), started]))).toBe(true);
    expect(
      needsRollback(
        foldOperation([
          requested([
            ['check', 'no_side_effects'],
            ['migrate', 'irreversible'],
          ]),
        ]),
      ),
    ).toBe(true);
  });

  it('given an operation whose steps have no side effects, then no rollback is needed', () => {
    const state = foldOperation([
      requested([
        ['check', 'no_side_effects'],
        ['probe', 'no_side_effects'],
      ]),
      started,
      ...ran('check'),
    ]);
    expect(needsRollback(state)).toBe(false);
  });
});
