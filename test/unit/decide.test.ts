import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { decide, foldOperation, type OperationCommand } from '../../src/domain/index.js';
import { type OperationEvent } from '../../src/index.js';

const at = '2026-01-05T00:00:00.000Z';

const requested: OperationEvent = {
  type: 'OperationRequested',
  data: {
    operationId: 'op-1',
    type: 'deploy',
    environment: 'production',
    resource: { type: 'app', handle: 'web' },
    user: 'ada@example.com',
    params: {},
    createdAt: at,
    steps: [
      { name: 'migrate', kind: 'irreversible' },
      { name: 'start', kind: 'undoable' },
      { name: 'check', kind: 'no_side_effects' },
      { name: 'switch', kind: 'undoable' },
    ],
  },
};

const started: OperationEvent = { type: 'OperationStarted', data: { at } };
const ran = (step: string): OperationEvent[] => [
  { type: 'StepStarted', data: { step, attempt: 1, at } },
  { type: 'StepSucceeded', data: { step, attempt: 1, at, output: { step } } },
];
const failed: OperationEvent = {
  type: 'OperationFailed',
  data: {
    reason: 'failure',
    failedStep: 'check',
    error: { name: 'Error', message: 'boom', causes: [] },
    rollbackRequired: true,
    at,
  },
};

/** Given events, when a command, then events or an error code (Emmett's DeciderSpecification). */
const given = (...events: OperationEvent[]) => ({
  when: (command: OperationCommand) => {
    const decision = decide(command, foldOperation(events));
    return {
      then: (expected: OperationEvent[]) => expect(decision).toEqual(E.right(expected)),
      thenFails: (code: string) => {
        expect(E.isLeft(decision)).toBe(true);
        if (E.isLeft(decision)) expect(decision.left.code).toBe(code);
      },
    };
  },
});

describe('the Operation decider', () => {
  it('requests a new operation once', () => {
    given()
      .when({ type: 'RequestOperation', data: requested.data as never })
      .then([requested]);
    given(requested)
      .when({ type: 'RequestOperation', data: requested.data as never })
      .thenFails('INVALID_TRANSITION');
  });

  it('refuses commands on an operation that does not exist', () => {
    given().when({ type: 'StartOperation', at }).thenFails('OPERATION_NOT_FOUND');
  });

  it('starts a step only while running and nothing else is in flight', () => {
    given(requested)
      .when({ type: 'StartStep', step: 'migrate', attempt: 1, at })
      .thenFails('INVALID_TRANSITION');
    given(requested, started)
      .when({ type: 'StartStep', step: 'migrate', attempt: 1, at })
      .then([{ type: 'StepStarted', data: { step: 'migrate', attempt: 1, at } }]);
    given(requested, started, ran('migrate')[0]!)
      .when({ type: 'StartStep', step: 'start', attempt: 1, at })
      .thenFails('INVALID_TRANSITION');
    given(requested, started, ...ran('migrate'))
      .when({ type: 'StartStep', step: 'migrate', attempt: 1, at })
      .thenFails('INVALID_TRANSITION');
  });

  it('refuses a new step once cancellation was requested', () => {
    given(requested, started, { type: 'CancellationRequested', data: { user: 'bob', at } })
      .when({ type: 'StartStep', step: 'migrate', attempt: 1, at })
      .thenFails('OPERATION_CANCELLED');
  });

  it('records a cancellation once and refuses it on an ended operation', () => {
    const cancelled: OperationEvent = { type: 'CancellationRequested', data: { user: 'bob', at } };
    given(requested).when({ type: 'RequestCancellation', user: 'bob', at }).then([cancelled]);
    given(requested, cancelled).when({ type: 'RequestCancellation', user: 'eve', at }).then([]);
    given(
      requested,
      started,
      ...ran('migrate'),
      ...ran('start'),
      ...ran('check'),
      ...ran('switch'),
      {
        type: 'OperationSucceeded',
        data: { at },
      },
    )
      .when({ type: 'RequestCancellation', user: 'bob', at })
      .thenFails('OPERATION_ENDED');
  });

  it('plans the rollback as a fold: steps with side effects, newest first', () => {
    given(requested, started, ...ran('migrate'), ...ran('start'), ...ran('check'), failed)
      .when({ type: 'StartRollback', at })
      .then([
        { type: 'RollbackStarted', data: { reason: 'failure', plan: ['start', 'migrate'], at } },
      ]);
  });

  it('undoes only the step due next and derives the verdict from what is left', () => {
    const rollbackStarted: OperationEvent = {
      type: 'RollbackStarted',
      data: { reason: 'failure', plan: ['start', 'migrate'], at },
    };
    const history = [
      requested,
      started,
      ...ran('migrate'),
      ...ran('start'),
      ...ran('check'),
      failed,
      rollbackStarted,
    ];
    given(...history)
      .when({ type: 'StartUndo', step: 'migrate', attempt: 1, at })
      .thenFails('INVALID_TRANSITION');
    given(...history)
      .when({ type: 'FinishRollback', at })
      .thenFails('INVALID_TRANSITION');
    given(
      ...history,
      { type: 'StepUndoStarted', data: { step: 'start', attempt: 1, outcome: 'succeeded', at } },
      { type: 'StepUndone', data: { step: 'start', attempt: 1, at } },
      { type: 'StepNotUndoable', data: { step: 'migrate', reason: 'irreversible', at } },
    )
      .when({ type: 'FinishRollback', at })
      .then([
        {
          type: 'RollbackFinished',
          data: { outcome: 'failed', notUndone: [{ step: 'migrate', reason: 'irreversible' }], at },
        },
      ]);
  });

  it('continues a failed rollback only, skipping named steps', () => {
    const rolledBackBadly: OperationEvent[] = [
      requested,
      started,
      ...ran('start'),
      failed,
      { type: 'RollbackStarted', data: { reason: 'failure', plan: ['start'], at } },
      { type: 'StepUndoStarted', data: { step: 'start', attempt: 1, outcome: 'succeeded', at } },
      {
        type: 'StepUndoFailed',
        data: {
          step: 'start',
          attempt: 1,
          willRetry: false,
          at,
          error: { name: 'E', message: 'x', causes: [] },
        },
      },
      {
        type: 'RollbackFinished',
        data: {
          outcome: 'failed',
          notUndone: [{ step: 'start', reason: 'undo_failed', error: 'x' }],
          at,
        },
      },
    ];
    given(...rolledBackBadly)
      .when({ type: 'ContinueRollback', skip: ['start'], at })
      .then([
        {
          type: 'RollbackStarted',
          data: { reason: 'continue', plan: ['start'], skip: ['start'], at },
        },
        { type: 'StepNotUndoable', data: { step: 'start', reason: 'skipped', at } },
      ]);
    given(...rolledBackBadly)
      .when({ type: 'ContinueRollback', skip: ['nope'], at })
      .thenFails('UNKNOWN_STEP');
    given(requested, started)
      .when({ type: 'ContinueRollback', skip: [], at })
      .thenFails('ROLLBACK_NOT_FAILED');
  });

  it('refuses to succeed with steps left or after a cancel', () => {
    given(requested, started, ...ran('migrate'))
      .when({ type: 'SucceedOperation', at })
      .thenFails('INVALID_TRANSITION');
    given(
      requested,
      started,
      ...ran('migrate'),
      ...ran('start'),
      ...ran('check'),
      ...ran('switch'),
      {
        type: 'CancellationRequested',
        data: { user: 'bob', at },
      },
    )
      .when({ type: 'SucceedOperation', at })
      .thenFails('OPERATION_CANCELLED');
  });
});
