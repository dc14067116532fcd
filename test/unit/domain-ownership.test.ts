import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { decide, foldOperation, type OperationCommand } from '../../src/domain/index.js';
import { OperationLostError } from '../../src/domain/errors.js';
import type { OperationEvent } from '../../src/domain/events.js';
import { fenceError } from '../../src/domain/ownership.js';
import { OpledgerError } from '../../src/index.js';
import { at, requestedWith } from '../support/operation-history.js';

// The guards of ownership, one rule per test (the style of decide.test.ts): which worker may
// claim an operation, who may take it over and with which fencing count, and which writer the
// fence lets through. The mutation run (npm run mutation) checks that deleting any guard fails
// one of them.

const later = '2026-01-05T00:01:00.000Z';

const requested = (dispatch: 'worker' | 'engine' = 'worker'): OperationEvent => {
  const request = requestedWith([
    ['pull', 'undoable'],
    ['switch', 'undoable'],
  ]) as Extract<OperationEvent, { type: 'OperationRequested' }>;
  return dispatch === 'worker' ? { ...request, data: { ...request.data, dispatch } } : request;
};
const claimed = (worker = 'w1', lease = 'lease-1'): OperationEvent => ({
  type: 'OperationClaimed',
  data: { worker, lease, fence: 1, at },
});
const takenOver = (
  from: { worker: string; lease: string },
  worker: string,
  lease: string,
  fence: number,
): OperationEvent => ({
  type: 'OperationTakenOver',
  data: { from, worker, lease, fence, reason: 'lease_expired', leaseEndedAt: at, at: later },
});
const started: OperationEvent = { type: 'OperationStarted', data: { at } };
const ran = (step: string): OperationEvent[] => [
  { type: 'StepStarted', data: { step, attempt: 1, at } },
  { type: 'StepSucceeded', data: { step, attempt: 1, at, output: {} } },
];
const succeeded: OperationEvent = { type: 'OperationSucceeded', data: { at } };
const failed = (rollbackRequired: boolean): OperationEvent => ({
  type: 'OperationFailed',
  data: {
    reason: 'worker_lost',
    error: { name: 'Error', message: 'lost', causes: [] },
    rollbackRequired,
    at,
  },
});
const rollbackStarted: OperationEvent = {
  type: 'RollbackStarted',
  data: { reason: 'worker_lost', plan: ['pull'], at },
};
const rollbackFinished: OperationEvent = {
  type: 'RollbackFinished',
  data: { outcome: 'succeeded', notUndone: [], at },
};

const claim: OperationCommand = {
  type: 'ClaimOperation',
  data: { worker: 'w2', lease: 'lease-2', at },
};
const takeOver = (from: string, worker = 'w2', lease = 'lease-2'): OperationCommand => ({
  type: 'TakeOverOperation',
  data: { from, worker, lease, reason: 'lease_expired', leaseEndedAt: at, at: later },
});

const given = (...events: OperationEvent[]) => ({
  when: (command: OperationCommand) => {
    const decision = decide(command, foldOperation(events));
    return {
      then: (expected: OperationEvent[]) => expect(decision).toStrictEqual(E.right(expected)),
      thenFails: (code: string, message?: RegExp) => {
        expect(E.isLeft(decision)).toBe(true);
        if (E.isLeft(decision)) {
          expect(decision.left).toBeInstanceOf(OpledgerError);
          expect(decision.left.code).toBe(code);
          if (message) expect(decision.left.message).toMatch(message);
        }
      },
    };
  },
});

describe('decide, ClaimOperation', () => {
  it('given a queued operation written for workers, when ClaimOperation, then OperationClaimed with fence 1', () => {
    given(requested())
      .when(claim)
      .then([
        {
          type: 'OperationClaimed',
          data: { worker: 'w2', lease: 'lease-2', fence: 1, at },
        },
      ]);
  });

  it('given an operation an engine runs itself (no dispatch), when ClaimOperation, then InvalidTransitionError', () => {
    given(requested('engine'))
      .when(claim)
      .thenFails('INVALID_TRANSITION', /run by the engine that started it/);
  });

  it('given an operation already claimed, when ClaimOperation by another worker, then InvalidTransitionError naming the owner', () => {
    given(requested(), claimed('w1'))
      .when(claim)
      .thenFails('INVALID_TRANSITION', /worker w1 has claimed it/);
  });

  it('given an operation already claimed, when ClaimOperation by the same worker again, then InvalidTransitionError (never claimed twice)', () => {
    given(requested(), claimed('w2', 'lease-2'))
      .when(claim)
      .thenFails('INVALID_TRANSITION', /worker w2 has claimed it/);
  });

  it('given an operation cancelled before any worker claimed it, when ClaimOperation, then InvalidTransitionError (only a queued one)', () => {
    given(requested(), failed(false))
      .when(claim)
      .thenFails('INVALID_TRANSITION', /it is failed/);
  });

  it('given no events, when ClaimOperation, then OperationNotFoundError', () => {
    given().when(claim).thenFails('OPERATION_NOT_FOUND');
  });
});

describe('decide, TakeOverOperation', () => {
  it('given an operation claimed by lease-1, when TakeOverOperation from lease-1, then OperationTakenOver from its owner with fence 2', () => {
    given(requested(), claimed(), started)
      .when(takeOver('lease-1'))
      .then([
        {
          type: 'OperationTakenOver',
          data: {
            from: { worker: 'w1', lease: 'lease-1' },
            worker: 'w2',
            lease: 'lease-2',
            fence: 2,
            reason: 'lease_expired',
            leaseEndedAt: at,
            at: later,
          },
        },
      ]);
  });

  it('given an operation taken over once, when TakeOverOperation from its new owner, then the fence is one more again (3)', () => {
    given(requested(), claimed(), takenOver({ worker: 'w1', lease: 'lease-1' }, 'w2', 'lease-2', 2))
      .when(takeOver('lease-2', 'w3', 'lease-3'))
      .then([
        {
          type: 'OperationTakenOver',
          data: {
            from: { worker: 'w2', lease: 'lease-2' },
            worker: 'w3',
            lease: 'lease-3',
            fence: 3,
            reason: 'lease_expired',
            leaseEndedAt: at,
            at: later,
          },
        },
      ]);
  });

  it('given an operation taken over from lease-1 already, when a second taker also read lease-1 and takes over, then InvalidTransitionError (only from the current owner)', () => {
    given(requested(), claimed(), takenOver({ worker: 'w1', lease: 'lease-1' }, 'w2', 'lease-2', 2))
      .when(takeOver('lease-1', 'w3', 'lease-3'))
      .thenFails('INVALID_TRANSITION', /its owner is not lease lease-1/);
  });

  it('given an operation no worker has claimed, when TakeOverOperation, then InvalidTransitionError', () => {
    given(requested())
      .when(takeOver('lease-1'))
      .thenFails('INVALID_TRANSITION', /its owner is not lease lease-1/);
  });

  it('given a succeeded operation, when TakeOverOperation from its owner, then InvalidTransitionError (not after the end)', () => {
    given(requested(), claimed(), started, ...ran('pull'), ...ran('switch'), succeeded)
      .when(takeOver('lease-1'))
      .thenFails('INVALID_TRANSITION', /already succeeded/);
  });

  it('given an operation that failed with no rollback due, when TakeOverOperation, then InvalidTransitionError', () => {
    given(requested(), claimed(), started, failed(false))
      .when(takeOver('lease-1'))
      .thenFails('INVALID_TRANSITION', /already failed/);
  });

  it('given an operation whose rollback finished, when TakeOverOperation, then InvalidTransitionError', () => {
    given(
      requested(),
      claimed(),
      started,
      ...ran('pull'),
      failed(true),
      rollbackStarted,
      { type: 'StepUndoStarted', data: { step: 'pull', attempt: 1, outcome: 'succeeded', at } },
      { type: 'StepUndone', data: { step: 'pull', attempt: 1, at } },
      rollbackFinished,
    )
      .when(takeOver('lease-1'))
      .thenFails('INVALID_TRANSITION', /already failed/);
  });

  it('given an operation failed and still rolling back, when TakeOverOperation, then OperationTakenOver (its successor resumes the rollback)', () => {
    const decision = decide(
      takeOver('lease-1'),
      foldOperation([
        requested(),
        claimed(),
        started,
        ...ran('pull'),
        failed(true),
        rollbackStarted,
      ]),
    );
    expect(E.isRight(decision) && decision.right[0]?.type).toBe('OperationTakenOver');
  });
});

describe('fenceError', () => {
  const ownedBy2 = foldOperation([
    requested(),
    claimed(),
    takenOver({ worker: 'w1', lease: 'lease-1' }, 'w2', 'lease-2', 2),
  ]);

  it('given the state names fence 2, when the writer holds fence 2, then no error', () => {
    expect(fenceError(ownedBy2, 2)).toBeUndefined();
  });

  it('given the state names fence 2, when the writer holds fence 1 (the old owner), then OperationLostError naming the new owner', () => {
    const lost = fenceError(ownedBy2, 1);
    expect(lost).toBeInstanceOf(OperationLostError);
    expect(lost).toMatchObject({
      code: 'OPERATION_LOST',
      operationId: 'op-1',
      fence: 1,
      owner: { worker: 'w2', fence: 2 },
    });
  });

  it('given the state names fence 2, when a writer holds a higher fence (3), then OperationLostError too (only the exact count)', () => {
    expect(fenceError(ownedBy2, 3)).toBeInstanceOf(OperationLostError);
  });

  it('given an owned operation, when the writer has no fence (an engine running its own), then no error', () => {
    expect(fenceError(ownedBy2, undefined)).toBeUndefined();
  });

  it('given an operation with no owner, when a writer holds a fence, then OperationLostError with no owner', () => {
    const lost = fenceError(foldOperation([requested()]), 1);
    expect(lost).toBeInstanceOf(OperationLostError);
    expect(lost?.owner).toBeUndefined();
    expect(lost?.message).toMatch(/it has no owner/);
  });
});
