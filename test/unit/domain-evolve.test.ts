import { describe, expect, it } from 'vitest';
import type { OperationEvent } from '../../src/domain/events.js';
import {
  foldOperation,
  hasEnded,
  initialState,
  stepOutputs,
  type OperationState,
} from '../../src/domain/operation.js';

// What each event does to the state of an Operation, one rule per test: given these events,
// when this event, then this state.

const at = '2026-01-05T00:00:00.000Z';
const later = '2026-01-05T00:00:09.000Z';
const error = { name: 'Error', message: 'boom', causes: [] };

const requested: OperationEvent = {
  type: 'OperationRequested',
  data: {
    operationId: 'op-1',
    type: 'deploy',
    environment: 'production',
    resource: { type: 'app', handle: 'web' },
    user: 'ada@example.com',
    params: { image: 'web:v2' },
    createdAt: at,
    steps: [
      { name: 'pull', kind: 'undoable' },
      { name: 'migrate', kind: 'irreversible' },
    ],
  },
};
const started: OperationEvent = { type: 'OperationStarted', data: { at } };
const stepStarted = (step: string, attempt = 1, provider?: string): OperationEvent => ({
  type: 'StepStarted',
  data: { step, attempt, at, ...(provider !== undefined ? { provider } : {}) },
});
const stepSucceeded = (step: string, more: { output?: unknown; provider?: string } = {}) =>
  ({ type: 'StepSucceeded', data: { step, attempt: 1, at, ...more } }) as OperationEvent;
const stepFailed = (
  step: string,
  more: { willRetry?: boolean; failoverTo?: string; possiblyDone?: boolean } = {},
) =>
  ({
    type: 'StepFailed',
    data: { step, attempt: 1, error, willRetry: false, at, ...more },
  }) as OperationEvent;
const failed = (rollbackRequired: boolean, failedStep?: string): OperationEvent => ({
  type: 'OperationFailed',
  data: {
    reason: 'failure',
    error,
    rollbackRequired,
    at: later,
    ...(failedStep !== undefined ? { failedStep } : {}),
  },
});
const rollbackStarted: OperationEvent = {
  type: 'RollbackStarted',
  data: { reason: 'failure', plan: ['pull'], at },
};
const undoStarted: OperationEvent = {
  type: 'StepUndoStarted',
  data: { step: 'pull', attempt: 1, outcome: 'succeeded', at },
};
const undoFailed = (willRetry: boolean): OperationEvent => ({
  type: 'StepUndoFailed',
  data: { step: 'pull', attempt: 1, error: { ...error, message: 'undo boom' }, willRetry, at },
});
const rollbackFinished = (outcome: 'succeeded' | 'failed'): OperationEvent => ({
  type: 'RollbackFinished',
  data: { outcome, notUndone: [{ step: 'migrate', reason: 'irreversible' }], at: later },
});

const rollingBack: OperationEvent[] = [
  requested,
  started,
  stepStarted('pull'),
  stepSucceeded('pull'),
  failed(true),
  rollbackStarted,
];

const given = (...events: OperationEvent[]) => ({
  when: (event: OperationEvent) => ({
    before: foldOperation(events),
    after: foldOperation([...events, event]),
  }),
});

describe('evolve: the state an event leaves', () => {
  it('given no event, then an operation that is nothing yet: no id, nothing planned, run or undone', () => {
    // Spelled out, not built from initialState(): the other expectations here start from it.
    const nothing = {
      status: 'none',
      id: '',
      type: '',
      environment: '',
      resource: { type: '', handle: '' },
      user: '',
      params: {},
      createdAt: '',
      cancelled: false,
      plan: [],
      steps: {},
      completedCount: 0,
      rollback: {
        status: 'none',
        undone: [],
        skipped: [],
        undoFailed: {},
        reported: [],
        notUndone: [],
      },
    };
    expect(initialState()).toStrictEqual(nothing);
    expect(foldOperation([])).toStrictEqual(nothing);
  });

  it('given nothing, when OperationRequested, then a queued operation with its plan of pending steps', () => {
    expect(foldOperation([requested])).toStrictEqual({
      ...initialState(),
      status: 'queued',
      id: 'op-1',
      type: 'deploy',
      environment: 'production',
      resource: { type: 'app', handle: 'web' },
      user: 'ada@example.com',
      params: { image: 'web:v2' },
      createdAt: at,
      plan: ['pull', 'migrate'],
      steps: {
        pull: { name: 'pull', kind: 'undoable', status: 'pending', attempts: 0 },
        migrate: { name: 'migrate', kind: 'irreversible', status: 'pending', attempts: 0 },
      },
      lastEventAt: at,
    });
    const keyed = foldOperation([
      {
        ...requested,
        data: { ...requested.data, idempotencyKey: 'k-1', lifecycle: 'provision' },
      } as OperationEvent,
    ]);
    expect(keyed).toMatchObject({ idempotencyKey: 'k-1', lifecycle: 'provision' });
  });

  it('given a queued operation, when OperationStarted, then it is running since then', () => {
    const { after } = given(requested).when(started);
    expect(after).toMatchObject({ status: 'running', startedAt: at });
  });

  for (const name of ['toString', '__proto__', 'hasOwnProperty']) {
    it(`given a running operation, when a step event names '${name}', which no request planned, then nothing changes (the prototype is not taken for a step)`, () => {
      for (const event of [stepStarted(name), stepSucceeded(name), stepFailed(name)]) {
        const { before, after } = given(requested, started).when(event);
        expect(after).toStrictEqual(before);
        expect(Object.keys(after.steps)).toEqual(['pull', 'migrate']);
      }
    });
  }

  it('given a running operation, when StepStarted, then the step runs, in flight, its outcome unknown until it ends', () => {
    const { after } = given(requested, started).when(stepStarted('pull', 2, 'registry-b'));
    expect(after.inFlight).toBe('pull');
    expect(after.steps.pull).toStrictEqual({
      name: 'pull',
      kind: 'undoable',
      status: 'running',
      attempts: 2,
      provider: 'registry-b',
      outcomeUnknown: true,
    });
  });

  it('given a step running, when StepSucceeded, then it succeeded with its output and provider, numbered in completion order, and nothing is in flight', () => {
    const { after } = given(requested, started, stepStarted('pull', 1, 'registry-a')).when(
      stepSucceeded('pull', { output: { digest: 'sha' }, provider: 'registry-b' }),
    );
    expect(after.inFlight).toBeUndefined();
    expect(after).not.toHaveProperty('inFlight');
    expect(after.steps.pull).toStrictEqual({
      name: 'pull',
      kind: 'undoable',
      status: 'succeeded',
      attempts: 1,
      provider: 'registry-b',
      output: { digest: 'sha' },
      completedAs: 0,
    });
    const second = foldOperation([
      requested,
      started,
      stepStarted('pull'),
      stepSucceeded('pull'),
      stepStarted('migrate'),
      stepSucceeded('migrate'),
    ]);
    expect(second.steps.migrate?.completedAs).toBe(1);
    expect(second.completedCount).toBe(2);
    expect(second.steps.migrate?.provider).toBeUndefined();
    expect(second.steps.pull).toHaveProperty('output', undefined);
  });

  it('given a step started with a provider, when StepSucceeded names none, then the step keeps the provider it started with', () => {
    const { after } = given(requested, started, stepStarted('pull', 1, 'registry-a')).when(
      stepSucceeded('pull'),
    );
    expect(after.steps.pull).toHaveProperty('provider', 'registry-a');
  });

  it('given a step running, when StepFailed for good, then it failed and nothing is in flight', () => {
    const { after } = given(requested, started, stepStarted('pull')).when(stepFailed('pull'));
    expect(after).not.toHaveProperty('inFlight');
    expect(after.steps.pull).toStrictEqual({
      name: 'pull',
      kind: 'undoable',
      status: 'failed',
      attempts: 1,
    });
    expect(after.completedCount).toBe(0);
  });

  it('given a step running, when StepFailed with a retry or a failover due, then it is pending again', () => {
    for (const more of [{ willRetry: true }, { failoverTo: 'registry-b' }]) {
      const { after } = given(requested, started, stepStarted('pull')).when(
        stepFailed('pull', more),
      );
      expect(after.steps.pull?.status).toBe('pending');
    }
  });

  it('given a step running, when StepFailed after it possibly ran, then its outcome is unknown and it is numbered in completion order', () => {
    const { after } = given(requested, started, stepStarted('pull')).when(
      stepFailed('pull', { possiblyDone: true }),
    );
    expect(after.steps.pull).toMatchObject({
      status: 'failed',
      outcomeUnknown: true,
      completedAs: 0,
    });
    expect(after.completedCount).toBe(1);
  });

  it('given a running operation, when an event names a step it does not have, then only the time of its last event changes', () => {
    for (const event of [
      { ...stepStarted('nope'), data: { step: 'nope', attempt: 1, at: later } },
      { ...stepSucceeded('nope'), data: { step: 'nope', attempt: 1, at: later } },
      {
        ...stepFailed('nope'),
        data: { step: 'nope', attempt: 1, error, willRetry: false, at: later },
      },
    ] as OperationEvent[]) {
      const { before, after } = given(requested, started).when(event);
      expect(after, event.type).toStrictEqual({ ...before, lastEventAt: later });
    }
  });

  it('given a running operation, when CancellationRequested, then it is cancelled by that user', () => {
    const { after } = given(requested, started).when({
      type: 'CancellationRequested',
      data: { user: 'bob', at },
    });
    expect(after).toMatchObject({ cancelled: true, cancelledBy: 'bob' });
  });

  it('given a running operation, when OperationFailed with no rollback due, then it failed and finished', () => {
    const { after } = given(requested, started).when(failed(false, 'pull'));
    expect(after).toMatchObject({
      status: 'failed',
      finishedAt: later,
      failure: { reason: 'failure', error, rollbackRequired: false, failedStep: 'pull' },
    });
  });

  it('given a running operation, when OperationFailed with a rollback due, then it failed and has not finished', () => {
    const { after } = given(requested, started).when(failed(true));
    expect(after.failure).toStrictEqual({ reason: 'failure', error, rollbackRequired: true });
    expect(after).not.toHaveProperty('finishedAt');
  });

  it('given a failed rollback, when RollbackStarted again, then a new pass: in progress, not finished, failed undos and reports forgotten', () => {
    const { after } = given(
      requested,
      started,
      stepStarted('pull'),
      stepSucceeded('pull'),
      failed(true),
      rollbackStarted,
      undoStarted,
      undoFailed(false),
      { type: 'StepNotUndoable', data: { step: 'migrate', reason: 'irreversible', at } },
      rollbackFinished('failed'),
    ).when({ type: 'RollbackStarted', data: { reason: 'continue', plan: ['pull'], skip: [], at } });
    expect(after).not.toHaveProperty('finishedAt');
    expect(after.rollback).toStrictEqual({
      status: 'in_progress',
      reason: 'continue',
      undone: [],
      skipped: [],
      undoFailed: {},
      reported: [],
      notUndone: [{ step: 'migrate', reason: 'irreversible' }],
    });
  });

  it('given a rollback, when StepUndoStarted then StepUndone, then the undo is in flight, then the step is undone', () => {
    const { after: undoing } = given(...rollingBack).when(undoStarted);
    expect(undoing.rollback.undoInFlight).toBe('pull');
    const { after } = given(...rollingBack, undoStarted).when({
      type: 'StepUndone',
      data: { step: 'pull', attempt: 1, at },
    });
    expect(after.rollback).not.toHaveProperty('undoInFlight');
    expect(after.rollback.undone).toEqual(['pull']);
  });

  it('given an undo running, when StepUndoFailed for good, then its error is recorded; with a retry due, nothing is', () => {
    const { after } = given(...rollingBack, undoStarted).when(undoFailed(false));
    expect(after.rollback).not.toHaveProperty('undoInFlight');
    expect(after.rollback.undoFailed).toStrictEqual({ pull: 'undo boom' });
    const { after: retried } = given(...rollingBack, undoStarted).when(undoFailed(true));
    expect(retried.rollback.undoFailed).toStrictEqual({});
    expect(retried.rollback).not.toHaveProperty('undoInFlight');
  });

  it('given a rollback, when StepNotUndoable, then the step is reported, and remembered as skipped when it was skipped', () => {
    const { after } = given(...rollingBack).when({
      type: 'StepNotUndoable',
      data: { step: 'migrate', reason: 'irreversible', at },
    });
    expect(after.rollback).toMatchObject({ reported: ['migrate'], skipped: [] });
    const skip: OperationEvent = {
      type: 'StepNotUndoable',
      data: { step: 'pull', reason: 'skipped', at },
    };
    const { after: skipped } = given(...rollingBack, skip).when(skip);
    expect(skipped.rollback).toMatchObject({ reported: ['pull', 'pull'], skipped: ['pull'] });
  });

  it('given a rollback, when RollbackFinished, then its outcome and what stays are recorded and the operation finished', () => {
    const { after } = given(...rollingBack).when(rollbackFinished('failed'));
    expect(after.finishedAt).toBe(later);
    expect(after.rollback).toMatchObject({
      status: 'failed',
      notUndone: [{ step: 'migrate', reason: 'irreversible' }],
    });
  });

  it('given every step run, when OperationSucceeded, then it succeeded, finished, with its effects', () => {
    const { after } = given(requested, started).when({
      type: 'OperationSucceeded',
      data: { at: later, effects: { release: 'web:v2' } },
    });
    expect(after).toMatchObject({
      status: 'succeeded',
      finishedAt: later,
      effects: { release: 'web:v2' },
    });
    const { after: plain } = given(requested, started).when({
      type: 'OperationSucceeded',
      data: { at: later },
    });
    expect(plain).not.toHaveProperty('effects');
  });

  it('given a state, when any event, then the time of its last event is that event’s', () => {
    const { after } = given(requested).when({ type: 'OperationStarted', data: { at: later } });
    expect(after.lastEventAt).toBe(later);
  });
});

describe('hasEnded: when an operation has nothing left to do', () => {
  const cases: [string, OperationEvent[], boolean][] = [
    ['queued', [requested], false],
    ['running', [requested, started], false],
    ['succeeded', [requested, started, { type: 'OperationSucceeded', data: { at } }], true],
    ['failed with no rollback due', [requested, started, failed(false)], true],
    ['failed with a rollback due', [requested, started, failed(true)], false],
    ['rolling back', rollingBack, false],
    ['rolled back', [...rollingBack, rollbackFinished('succeeded')], true],
    ['whose rollback failed', [...rollingBack, rollbackFinished('failed')], true],
  ];
  for (const [name, events, ended] of cases) {
    it(`given an operation ${name}, then it has ${ended ? '' : 'not '}ended`, () => {
      expect(hasEnded(foldOperation(events))).toBe(ended);
    });
  }
});

describe('stepOutputs', () => {
  it('given steps run, then the outputs of those that succeeded, by name', () => {
    const state: OperationState = foldOperation([
      requested,
      started,
      stepStarted('pull'),
      stepSucceeded('pull', { output: { digest: 'sha' } }),
      stepStarted('migrate'),
      stepFailed('migrate', { possiblyDone: true }),
    ]);
    expect(stepOutputs(state)).toStrictEqual({ pull: { digest: 'sha' } });
  });
});
