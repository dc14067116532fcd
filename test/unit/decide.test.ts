import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { decide, foldOperation, type OperationCommand } from '../../src/domain/index.js';
import { transition } from '../../src/domain/decide.js';
import { OpledgerError, type OperationEvent } from '../../src/index.js';
import type { EventOf } from '../../src/domain/events.js';
import { at, requestedWith, started } from '../support/operation-history.js';

const requested = requestedWith([
  ['migrate', 'irreversible'],
  ['start', 'undoable'],
  ['check', 'no_side_effects'],
  ['switch', 'undoable'],
]);

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
      // Strict: an optional field written as undefined is a different event.
      then: (expected: OperationEvent[]) => expect(decision).toStrictEqual(E.right(expected)),
      thenFails: (code: string) => {
        expect(E.isLeft(decision)).toBe(true);
        if (E.isLeft(decision)) {
          expect(decision.left).toBeInstanceOf(OpledgerError);
          expect(decision.left.code).toBe(code);
          // Every refusal names the operation (an unknown one cannot be named).
          expect(decision.left).toHaveProperty(
            'operationId',
            code === 'OPERATION_NOT_FOUND' ? '(unknown)' : 'op-1',
          );
        }
      },
    };
  },
});

// Each guard of `decide`, one rule per test: given these events, when this command, then these
// events or this typed error. Named so that a reader finds what a rule means here (the mutation
// run, npm run mutation, checks that deleting any guard fails one of them).

const cancelled: OperationEvent = { type: 'CancellationRequested', data: { user: 'bob', at } };
const stepStarted = (step: string, attempt = 1): OperationEvent => ({
  type: 'StepStarted',
  data: { step, attempt, at },
});
const stepFailed = (step: string, more: Partial<EventOf<'StepFailed'>['data']> = {}) =>
  ({
    type: 'StepFailed',
    data: {
      step,
      attempt: 1,
      error: { name: 'Error', message: 'boom', causes: [] },
      willRetry: false,
      at,
      ...more,
    },
  }) as OperationEvent;
const operationFailed = (
  reason: 'failure' | 'cancellation' | 'recovery',
  rollbackRequired: boolean,
): OperationEvent => ({
  type: 'OperationFailed',
  data: { reason, error: { name: 'Error', message: 'boom', causes: [] }, rollbackRequired, at },
});
const allRan = [
  ...ran('migrate'),
  ...ran('start'),
  ...ran('check'),
  ...ran('switch'),
] as OperationEvent[];
const succeeded: OperationEvent = { type: 'OperationSucceeded', data: { at } };
const rollbackStarted = (plan: string[]): OperationEvent => ({
  type: 'RollbackStarted',
  data: { reason: 'failure', plan, at },
});
const undoStarted = (step: string, outcome: 'succeeded' | 'unknown' = 'succeeded') =>
  ({ type: 'StepUndoStarted', data: { step, attempt: 1, outcome, at } }) as OperationEvent;
const undone = (step: string): OperationEvent => ({
  type: 'StepUndone',
  data: { step, attempt: 1, at },
});
const undoFailed = (step: string, willRetry = false): OperationEvent => ({
  type: 'StepUndoFailed',
  data: { step, attempt: 1, willRetry, at, error: { name: 'E', message: 'x', causes: [] } },
});
const notUndoable = (step: string): OperationEvent => ({
  type: 'StepNotUndoable',
  data: { step, reason: 'irreversible', at },
});
const finished = (outcome: 'succeeded' | 'failed'): OperationEvent => ({
  type: 'RollbackFinished',
  data: { outcome, notUndone: [], at },
});
/** 'start' (undoable) and 'migrate' (irreversible) ran, then the operation failed. */
const failedAfterTwo = [requested, started, ...ran('migrate'), ...ran('start'), failed];
/** The same, rolling back: 'start' is due for undo, then 'migrate' to report. */
const rollingBack = [...failedAfterTwo, rollbackStarted(['start', 'migrate'])];

describe('decide, StartOperation', () => {
  it('given a queued operation, when StartOperation, then OperationStarted', () => {
    given(requested)
      .when({ type: 'StartOperation', data: { at } })
      .then([{ type: 'OperationStarted', data: { at } }]);
  });

  it('given a running operation, when StartOperation, then InvalidTransitionError', () => {
    given(requested, started)
      .when({ type: 'StartOperation', data: { at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a queued operation cancelled before it started, when StartOperation, then OperationCancelledError', () => {
    given(requested, cancelled)
      .when({ type: 'StartOperation', data: { at } })
      .thenFails('OPERATION_CANCELLED');
  });
});

describe('decide, StartStep', () => {
  it('given a running operation, when StartStep with a provider, then StepStarted records the provider', () => {
    given(requested, started)
      .when({
        type: 'StartStep',
        data: { step: 'migrate', attempt: 2, provider: 'registry-b', at },
      })
      .then([
        {
          type: 'StepStarted',
          data: { step: 'migrate', attempt: 2, provider: 'registry-b', at },
        },
      ]);
  });

  it('given a failed operation, when StartStep, then InvalidTransitionError', () => {
    given(...failedAfterTwo)
      .when({ type: 'StartStep', data: { step: 'check', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a succeeded operation, when StartStep, then InvalidTransitionError', () => {
    given(requested, started, ...allRan, succeeded)
      .when({ type: 'StartStep', data: { step: 'check', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a running operation cancelled, when StartStep, then OperationCancelledError', () => {
    given(requested, started, ...ran('migrate'), cancelled)
      .when({ type: 'StartStep', data: { step: 'start', attempt: 1, at } })
      .thenFails('OPERATION_CANCELLED');
  });

  it('given a running operation, when StartStep of a step not in its plan, then InvalidTransitionError', () => {
    given(requested, started)
      .when({ type: 'StartStep', data: { step: 'nope', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a step still running, when StartStep of the next step, then InvalidTransitionError (one step at a time)', () => {
    given(requested, started, stepStarted('migrate'))
      .when({ type: 'StartStep', data: { step: 'start', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a step still running, when StartStep of that same step again, then InvalidTransitionError', () => {
    given(requested, started, stepStarted('migrate'))
      .when({ type: 'StartStep', data: { step: 'migrate', attempt: 2, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a step that failed for good, when StartStep of it, then InvalidTransitionError', () => {
    given(requested, started, stepStarted('migrate'), stepFailed('migrate'))
      .when({ type: 'StartStep', data: { step: 'migrate', attempt: 2, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a step that failed with a retry due, when StartStep of its next attempt, then StepStarted', () => {
    given(
      requested,
      started,
      stepStarted('migrate'),
      stepFailed('migrate', { willRetry: true, retryInMs: 1000 }),
    )
      .when({ type: 'StartStep', data: { step: 'migrate', attempt: 2, at } })
      .then([{ type: 'StepStarted', data: { step: 'migrate', attempt: 2, at } }]);
  });
});

describe('decide, WriteLog', () => {
  const line = { step: 'migrate', level: 'info', message: 'done', at } as const;

  it('given a running operation, when WriteLog, then LogWritten', () => {
    given(requested, started)
      .when({ type: 'WriteLog', data: line })
      .then([{ type: 'LogWritten', data: line }]);
  });

  it('given a failed operation still rolling back, when WriteLog, then LogWritten', () => {
    given(...rollingBack)
      .when({ type: 'WriteLog', data: line })
      .then([{ type: 'LogWritten', data: line }]);
  });

  it('given an ended operation, when WriteLog, then no event (the verdict stays the last line)', () => {
    given(requested, started, ...allRan, succeeded)
      .when({ type: 'WriteLog', data: line })
      .then([]);
    given(requested, started, operationFailed('failure', false))
      .when({ type: 'WriteLog', data: line })
      .then([]);
  });
});

describe('decide, CompleteStep and FailStep', () => {
  const success = { step: 'migrate', attempt: 1, output: { v: 1 }, at };
  const failure = (stepFailed('migrate') as EventOf<'StepFailed'>).data;

  it('given a step running, when CompleteStep of it, then StepSucceeded', () => {
    given(requested, started, stepStarted('migrate'))
      .when({ type: 'CompleteStep', data: success })
      .then([{ type: 'StepSucceeded', data: success }]);
  });

  it('given a step running, when FailStep of it, then StepFailed', () => {
    given(requested, started, stepStarted('migrate'))
      .when({ type: 'FailStep', data: failure })
      .then([{ type: 'StepFailed', data: failure }]);
  });

  it('given a step running and the operation failed by another process, when CompleteStep of it, then InvalidTransitionError (a process that lost the operation cannot write)', () => {
    for (const reason of ['recovery', 'cancellation', 'failure'] as const) {
      given(requested, started, stepStarted('migrate'), operationFailed(reason, true))
        .when({ type: 'CompleteStep', data: success })
        .thenFails('INVALID_TRANSITION');
    }
  });

  it('given a step running and the operation failed by another process, when FailStep of it, then InvalidTransitionError', () => {
    given(requested, started, stepStarted('migrate'), operationFailed('recovery', true))
      .when({ type: 'FailStep', data: failure })
      .thenFails('INVALID_TRANSITION');
  });

  it('given another step running, when CompleteStep or FailStep, then InvalidTransitionError', () => {
    given(requested, started, stepStarted('start'))
      .when({ type: 'CompleteStep', data: success })
      .thenFails('INVALID_TRANSITION');
    given(requested, started, stepStarted('start'))
      .when({ type: 'FailStep', data: failure })
      .thenFails('INVALID_TRANSITION');
  });

  it('given no step running, when CompleteStep, then InvalidTransitionError', () => {
    given(requested, started, ...ran('migrate'))
      .when({ type: 'CompleteStep', data: success })
      .thenFails('INVALID_TRANSITION');
  });
});

describe('decide, RequestCancellation', () => {
  it('given a running operation, when RequestCancellation, then CancellationRequested', () => {
    given(requested, started)
      .when({ type: 'RequestCancellation', data: { user: 'bob', at } })
      .then([cancelled]);
  });

  it('given an operation that failed and is rolling back, when RequestCancellation, then no event', () => {
    given(...failedAfterTwo)
      .when({ type: 'RequestCancellation', data: { user: 'bob', at } })
      .then([]);
    given(...rollingBack)
      .when({ type: 'RequestCancellation', data: { user: 'bob', at } })
      .then([]);
  });

  it('given an operation that failed with no rollback due, when RequestCancellation, then OperationEndedError', () => {
    given(requested, started, operationFailed('failure', false))
      .when({ type: 'RequestCancellation', data: { user: 'bob', at } })
      .thenFails('OPERATION_ENDED');
  });

  it('given an operation whose rollback finished, when RequestCancellation, then OperationEndedError', () => {
    given(...rollingBack, finished('failed'))
      .when({ type: 'RequestCancellation', data: { user: 'bob', at } })
      .thenFails('OPERATION_ENDED');
  });
});

describe('decide, FailOperation', () => {
  const command = (failedStep?: string): OperationCommand => ({
    type: 'FailOperation',
    data: {
      reason: 'failure',
      error: { name: 'Error', message: 'boom', causes: [] },
      rollbackRequired: true,
      at,
      ...(failedStep !== undefined ? { failedStep } : {}),
    },
  });

  it('given a running operation, when FailOperation, then OperationFailed (with the failed step when known)', () => {
    given(requested, started)
      .when(command('check'))
      .then([
        {
          type: 'OperationFailed',
          data: {
            reason: 'failure',
            failedStep: 'check',
            error: { name: 'Error', message: 'boom', causes: [] },
            rollbackRequired: true,
            at,
          },
        },
      ]);
    given(requested, started)
      .when(command())
      .then([operationFailed('failure', true)]);
  });

  it('given a queued operation, when FailOperation, then OperationFailed (a cancel before it started)', () => {
    given(requested, cancelled)
      .when(command())
      .then([operationFailed('failure', true)]);
  });

  it('given an operation that already failed, when FailOperation, then InvalidTransitionError', () => {
    given(...failedAfterTwo)
      .when(command())
      .thenFails('INVALID_TRANSITION');
    given(...rollingBack, finished('failed'))
      .when(command())
      .thenFails('INVALID_TRANSITION');
  });

  it('given a succeeded operation, when FailOperation, then InvalidTransitionError', () => {
    given(requested, started, ...allRan, succeeded)
      .when(command())
      .thenFails('INVALID_TRANSITION');
  });
});

describe('decide, StartRollback', () => {
  it('given a running operation, when StartRollback, then InvalidTransitionError', () => {
    given(requested, started)
      .when({ type: 'StartRollback', data: { at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given an operation that failed with no rollback due, when StartRollback, then InvalidTransitionError', () => {
    given(requested, started, operationFailed('failure', false))
      .when({ type: 'StartRollback', data: { at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a rollback already started, when StartRollback, then InvalidTransitionError', () => {
    given(...rollingBack)
      .when({ type: 'StartRollback', data: { at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a cancelled operation with a step whose outcome a crash left unknown, when StartRollback, then the plan has that step first and the reason of the failure', () => {
    given(
      requested,
      started,
      ...ran('migrate'),
      stepStarted('start'),
      operationFailed('cancellation', true),
    )
      .when({ type: 'StartRollback', data: { at } })
      .then([
        {
          type: 'RollbackStarted',
          data: { reason: 'cancellation', plan: ['start', 'migrate'], at },
        },
      ]);
  });
});

describe('decide, ContinueRollback', () => {
  /** 'start' undo failed for good, 'migrate' irreversible: the rollback failed. */
  const rolledBackBadly = [
    ...rollingBack,
    undoStarted('start'),
    undoFailed('start'),
    notUndoable('migrate'),
    finished('failed'),
  ];

  it('given a failed rollback, when ContinueRollback skipping nothing, then a new pass over the undoable steps not undone', () => {
    given(...rolledBackBadly)
      .when({ type: 'ContinueRollback', data: { skip: [], at } })
      .then([
        {
          type: 'RollbackStarted',
          data: { reason: 'continue', plan: ['start'], skip: [], at },
        },
      ]);
  });

  it('given a failed rollback, when ContinueRollback names a step twice, then it is skipped once', () => {
    given(...rolledBackBadly)
      .when({ type: 'ContinueRollback', data: { skip: ['start', 'start'], at } })
      .then([
        {
          type: 'RollbackStarted',
          data: { reason: 'continue', plan: ['start'], skip: ['start'], at },
        },
        { type: 'StepNotUndoable', data: { step: 'start', reason: 'skipped', at } },
      ]);
  });

  it('given a failed rollback, when ContinueRollback skips an irreversible step, then UnknownStepError', () => {
    given(...rolledBackBadly)
      .when({ type: 'ContinueRollback', data: { skip: ['migrate'], at } })
      .thenFails('UNKNOWN_STEP');
  });

  it('given a failed rollback that undid a step, when ContinueRollback skips that step, then UnknownStepError', () => {
    const history = [
      requested,
      started,
      ...ran('start'),
      ...ran('switch'),
      failed,
      rollbackStarted(['switch', 'start']),
      undoStarted('switch'),
      undoFailed('switch'),
      undoStarted('start'),
      undone('start'),
      finished('failed'),
    ];
    given(...history)
      .when({ type: 'ContinueRollback', data: { skip: ['start'], at } })
      .thenFails('UNKNOWN_STEP');
    given(...history)
      .when({ type: 'ContinueRollback', data: { skip: [], at } })
      .then([
        {
          type: 'RollbackStarted',
          data: { reason: 'continue', plan: ['switch'], skip: [], at },
        },
      ]);
  });

  it('given a rollback in progress or succeeded, when ContinueRollback, then RollbackNotFailedError', () => {
    given(...rollingBack)
      .when({ type: 'ContinueRollback', data: { skip: [], at } })
      .thenFails('ROLLBACK_NOT_FAILED');
    given(...rollingBack, finished('succeeded'))
      .when({ type: 'ContinueRollback', data: { skip: [], at } })
      .thenFails('ROLLBACK_NOT_FAILED');
  });
});

describe('decide, StartUndo', () => {
  it('given a rollback with an undoable step due, when StartUndo of it, then StepUndoStarted with its outcome', () => {
    given(...rollingBack)
      .when({ type: 'StartUndo', data: { step: 'start', attempt: 1, at } })
      .then([undoStarted('start', 'succeeded')]);
  });

  it('given a rollback of a step whose outcome a crash left unknown, when StartUndo of it, then StepUndoStarted says the outcome is unknown', () => {
    given(
      requested,
      started,
      stepStarted('start'),
      operationFailed('recovery', true),
      rollbackStarted(['start']),
    )
      .when({ type: 'StartUndo', data: { step: 'start', attempt: 1, at } })
      .then([undoStarted('start', 'unknown')]);
  });

  it('given an operation that failed and whose rollback has not started, when StartUndo, then InvalidTransitionError', () => {
    given(...failedAfterTwo)
      .when({ type: 'StartUndo', data: { step: 'start', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a finished rollback, when StartUndo, then InvalidTransitionError', () => {
    given(
      ...rollingBack,
      undoStarted('start'),
      undoFailed('start'),
      notUndoable('migrate'),
      finished('failed'),
    )
      .when({ type: 'StartUndo', data: { step: 'start', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a rollback, when StartUndo of a step already undone, then InvalidTransitionError', () => {
    given(...rollingBack, undoStarted('start'), undone('start'))
      .when({ type: 'StartUndo', data: { step: 'start', attempt: 2, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a rollback, when StartUndo of an irreversible step or a step that never ran, then InvalidTransitionError', () => {
    given(...rollingBack)
      .when({ type: 'StartUndo', data: { step: 'migrate', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
    given(...rollingBack)
      .when({ type: 'StartUndo', data: { step: 'switch', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given an undo that failed with a retry due, when StartUndo of its next attempt, then StepUndoStarted', () => {
    given(...rollingBack, undoStarted('start'), undoFailed('start', true))
      .when({ type: 'StartUndo', data: { step: 'start', attempt: 2, at } })
      .then([
        {
          type: 'StepUndoStarted',
          data: { step: 'start', attempt: 2, outcome: 'succeeded', at },
        },
      ]);
  });
});

describe('decide, CompleteUndo and FailUndo', () => {
  const failure = (undoFailed('start') as EventOf<'StepUndoFailed'>).data;

  it('given an undo running, when CompleteUndo of it, then StepUndone', () => {
    given(...rollingBack, undoStarted('start'))
      .when({ type: 'CompleteUndo', data: { step: 'start', attempt: 1, at } })
      .then([undone('start')]);
  });

  it('given an undo running, when FailUndo of it, then StepUndoFailed', () => {
    given(...rollingBack, undoStarted('start'))
      .when({ type: 'FailUndo', data: failure })
      .then([{ type: 'StepUndoFailed', data: failure }]);
  });

  it('given no undo running, when CompleteUndo or FailUndo, then InvalidTransitionError', () => {
    given(...rollingBack)
      .when({ type: 'CompleteUndo', data: { step: 'start', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
    given(...rollingBack)
      .when({ type: 'FailUndo', data: failure })
      .thenFails('INVALID_TRANSITION');
    given(...rollingBack, undoStarted('start'), undone('start'))
      .when({ type: 'CompleteUndo', data: { step: 'start', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given the undo of another step running, when CompleteUndo or FailUndo, then InvalidTransitionError', () => {
    given(...rollingBack, undoStarted('start'))
      .when({ type: 'CompleteUndo', data: { step: 'migrate', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
    given(...rollingBack, undoStarted('start'))
      .when({ type: 'FailUndo', data: { ...failure, step: 'migrate' } })
      .thenFails('INVALID_TRANSITION');
  });
});

describe('decide, ReportNotUndoable', () => {
  it('given a rollback with an irreversible step due, when ReportNotUndoable of it, then StepNotUndoable', () => {
    given(...rollingBack, undoStarted('start'), undone('start'))
      .when({ type: 'ReportNotUndoable', data: { step: 'migrate', at } })
      .then([notUndoable('migrate')]);
  });

  it('given a rollback with an undoable step due first, when ReportNotUndoable of the irreversible step also due, then StepNotUndoable of that step', () => {
    given(...rollingBack)
      .when({ type: 'ReportNotUndoable', data: { step: 'migrate', at } })
      .then([notUndoable('migrate')]);
  });

  it('given no rollback in progress, when ReportNotUndoable, then InvalidTransitionError', () => {
    given(...failedAfterTwo)
      .when({ type: 'ReportNotUndoable', data: { step: 'migrate', at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a rollback, when ReportNotUndoable of an undoable step or one already reported, then InvalidTransitionError', () => {
    given(...rollingBack)
      .when({ type: 'ReportNotUndoable', data: { step: 'start', at } })
      .thenFails('INVALID_TRANSITION');
    given(...rollingBack, notUndoable('migrate'))
      .when({ type: 'ReportNotUndoable', data: { step: 'migrate', at } })
      .thenFails('INVALID_TRANSITION');
  });
});

describe('decide, FinishRollback', () => {
  it('given every step undone, when FinishRollback, then RollbackFinished succeeded', () => {
    given(
      requested,
      started,
      ...ran('start'),
      failed,
      rollbackStarted(['start']),
      undoStarted('start'),
      undone('start'),
    )
      .when({ type: 'FinishRollback', data: { at } })
      .then([{ type: 'RollbackFinished', data: { outcome: 'succeeded', notUndone: [], at } }]);
  });

  it('given an undo that failed for good, when FinishRollback, then RollbackFinished failed listing it', () => {
    given(...rollingBack, undoStarted('start'), undoFailed('start'), notUndoable('migrate'))
      .when({ type: 'FinishRollback', data: { at } })
      .then([
        {
          type: 'RollbackFinished',
          data: {
            outcome: 'failed',
            notUndone: [
              { step: 'start', reason: 'undo_failed', error: 'x' },
              { step: 'migrate', reason: 'irreversible' },
            ],
            at,
          },
        },
      ]);
  });

  it('given no rollback in progress, when FinishRollback, then InvalidTransitionError', () => {
    given(...failedAfterTwo)
      .when({ type: 'FinishRollback', data: { at } })
      .thenFails('INVALID_TRANSITION');
    given(
      ...rollingBack,
      undoStarted('start'),
      undone('start'),
      notUndoable('migrate'),
      finished('failed'),
    )
      .when({ type: 'FinishRollback', data: { at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given an irreversible step not yet reported, when FinishRollback, then InvalidTransitionError', () => {
    given(...rollingBack, undoStarted('start'), undone('start'))
      .when({ type: 'FinishRollback', data: { at } })
      .thenFails('INVALID_TRANSITION');
  });
});

describe('decide, SucceedOperation', () => {
  it('given every planned step succeeded, when SucceedOperation with effects, then OperationSucceeded with them', () => {
    given(requested, started, ...allRan)
      .when({ type: 'SucceedOperation', data: { at, effects: { release: 'v2' } } })
      .then([{ type: 'OperationSucceeded', data: { at, effects: { release: 'v2' } } }]);
    given(requested, started, ...allRan)
      .when({ type: 'SucceedOperation', data: { at } })
      .then([succeeded]);
  });

  it('given a queued operation, when SucceedOperation, then InvalidTransitionError', () => {
    given(requested)
      .when({ type: 'SucceedOperation', data: { at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a succeeded or failed operation, when SucceedOperation, then InvalidTransitionError', () => {
    given(requested, started, ...allRan, succeeded)
      .when({ type: 'SucceedOperation', data: { at } })
      .thenFails('INVALID_TRANSITION');
    given(requested, started, ...allRan, operationFailed('recovery', true))
      .when({ type: 'SucceedOperation', data: { at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a planned step that failed for good, when SucceedOperation, then InvalidTransitionError', () => {
    given(
      requested,
      started,
      ...ran('migrate'),
      ...ran('start'),
      ...ran('check'),
      stepStarted('switch'),
      stepFailed('switch'),
    )
      .when({ type: 'SucceedOperation', data: { at } })
      .thenFails('INVALID_TRANSITION');
  });
});

describe('decide, RequestOperation', () => {
  it('given no events, when RequestOperation, then OperationRequested', () => {
    given()
      .when({ type: 'RequestOperation', data: requested.data as never })
      .then([requested]);
  });

  it('given an operation already requested, when RequestOperation, then InvalidTransitionError', () => {
    given(requested)
      .when({ type: 'RequestOperation', data: requested.data as never })
      .thenFails('INVALID_TRANSITION');
  });

  it('given no events, when any other command, then OperationNotFoundError', () => {
    for (const command of [
      { type: 'StartOperation', data: { at } },
      { type: 'StartStep', data: { step: 'migrate', attempt: 1, at } },
      { type: 'RequestCancellation', data: { user: 'bob', at } },
      { type: 'FinishRollback', data: { at } },
    ] as OperationCommand[]) {
      given().when(command).thenFails('OPERATION_NOT_FOUND');
    }
  });
});

describe('decide, StartStep in a running operation', () => {
  it('given a queued operation, when StartStep, then InvalidTransitionError', () => {
    given(requested)
      .when({ type: 'StartStep', data: { step: 'migrate', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given a running operation, when StartStep, then StepStarted', () => {
    given(requested, started)
      .when({ type: 'StartStep', data: { step: 'migrate', attempt: 1, at } })
      .then([stepStarted('migrate')]);
  });

  it('given a step that succeeded, when StartStep of it, then InvalidTransitionError', () => {
    given(requested, started, ...ran('migrate'))
      .when({ type: 'StartStep', data: { step: 'migrate', attempt: 1, at } })
      .thenFails('INVALID_TRANSITION');
  });
});

describe('decide, RequestCancellation before it ended', () => {
  it('given a queued operation, when RequestCancellation, then CancellationRequested', () => {
    given(requested)
      .when({ type: 'RequestCancellation', data: { user: 'bob', at } })
      .then([cancelled]);
  });

  it('given a cancellation already requested, when RequestCancellation, then no event (idempotent)', () => {
    given(requested, cancelled)
      .when({ type: 'RequestCancellation', data: { user: 'eve', at } })
      .then([]);
  });

  it('given a succeeded operation, when RequestCancellation, then OperationEndedError', () => {
    given(requested, started, ...allRan, succeeded)
      .when({ type: 'RequestCancellation', data: { user: 'bob', at } })
      .thenFails('OPERATION_ENDED');
  });
});

describe('decide, StartRollback of a failed operation', () => {
  it('given an operation failed with a rollback due, when StartRollback, then RollbackStarted planning the steps with side effects, newest first', () => {
    given(requested, started, ...ran('migrate'), ...ran('start'), ...ran('check'), failed)
      .when({ type: 'StartRollback', data: { at } })
      .then([rollbackStarted(['start', 'migrate'])]);
  });

  it('given an operation failed before any step with side effects ran, when StartRollback, then RollbackStarted with nothing to undo', () => {
    given(requested, started, ...ran('check'), failed)
      .when({ type: 'StartRollback', data: { at } })
      .then([rollbackStarted([])]);
  });
});

describe('decide, ContinueRollback skipping steps', () => {
  const rolledBackBadly = [
    requested,
    started,
    ...ran('start'),
    failed,
    rollbackStarted(['start']),
    undoStarted('start'),
    undoFailed('start'),
    {
      type: 'RollbackFinished',
      data: {
        outcome: 'failed',
        notUndone: [{ step: 'start', reason: 'undo_failed', error: 'x' }],
        at,
      },
    } as OperationEvent,
  ];

  it('given a failed rollback, when ContinueRollback skips a step whose undo failed, then RollbackStarted and the step reported skipped', () => {
    given(...rolledBackBadly)
      .when({ type: 'ContinueRollback', data: { skip: ['start'], at } })
      .then([
        {
          type: 'RollbackStarted',
          data: { reason: 'continue', plan: ['start'], skip: ['start'], at },
        },
        { type: 'StepNotUndoable', data: { step: 'start', reason: 'skipped', at } },
      ]);
  });

  it('given a failed rollback, when ContinueRollback skips a step the operation does not have, then UnknownStepError', () => {
    given(...rolledBackBadly)
      .when({ type: 'ContinueRollback', data: { skip: ['nope'], at } })
      .thenFails('UNKNOWN_STEP');
  });

  it('given a running operation, when ContinueRollback, then RollbackNotFailedError', () => {
    given(requested, started)
      .when({ type: 'ContinueRollback', data: { skip: [], at } })
      .thenFails('ROLLBACK_NOT_FAILED');
  });
});

describe('decide, FinishRollback with steps left', () => {
  it('given a rollback with an undo not yet run, when FinishRollback, then InvalidTransitionError', () => {
    given(...rollingBack)
      .when({ type: 'FinishRollback', data: { at } })
      .thenFails('INVALID_TRANSITION');
  });
});

describe('decide, SucceedOperation with steps left', () => {
  it('given planned steps not yet run, when SucceedOperation, then InvalidTransitionError', () => {
    given(requested, started, ...ran('migrate'))
      .when({ type: 'SucceedOperation', data: { at } })
      .thenFails('INVALID_TRANSITION');
  });

  it('given every step run and a cancellation requested, when SucceedOperation, then OperationCancelledError', () => {
    given(requested, started, ...allRan, cancelled)
      .when({ type: 'SucceedOperation', data: { at } })
      .thenFails('OPERATION_CANCELLED');
  });
});

describe('transition (admit, decide, then fold: the pipeline the engine runs)', () => {
  it('given an operation, when an allowed command, then its events and the state they lead to', () => {
    const history = [requested, started];
    const next = transition(
      { type: 'StartStep', data: { step: 'migrate', attempt: 1, at } },
      foldOperation(history),
    );
    const events: OperationEvent[] = [stepStarted('migrate')];
    expect(next).toStrictEqual(E.right({ events, state: foldOperation([...history, ...events]) }));
  });

  it('given a command the state does not allow, then the Left of decide, and no state', () => {
    const state = foldOperation([requested]);
    const command: OperationCommand = { type: 'FinishRollback', data: { at } };
    expect(transition(command, state)).toStrictEqual(decide(command, state));
    expect(E.isLeft(transition(command, state))).toBe(true);
  });

  it('given no events, when a request, then the requested state', () => {
    const next = transition(
      { type: 'RequestOperation', data: requested.data as never },
      foldOperation([]),
    );
    expect(next).toStrictEqual(E.right({ events: [requested], state: foldOperation([requested]) }));
  });
});
