import * as E from 'fp-ts/lib/Either.js';
import {
  InvalidTransitionError,
  OperationCancelledError,
  OperationEndedError,
  OperationNotFoundError,
  RollbackNotFailedError,
  UnknownStepError,
  type OpledgerError,
} from './errors.js';
import type { ErrorInfo, EventOf, FailureReason, OperationEvent } from './events.js';
import { hasEnded, type OperationState } from './operation.js';
import { notUndone, pendingRollback, stepsWithSideEffects } from './rollback-plan.js';

type Data<T extends OperationEvent['type']> = EventOf<T>['data'];

/** Commands carry their timestamp: the domain never reads a clock. */
export type OperationCommand =
  | { type: 'RequestOperation'; data: Data<'OperationRequested'> }
  | { type: 'ClaimOperation'; worker: string; lease: string; at: string }
  | {
      type: 'TakeOverOperation';
      /** The lease the taker read as the owner's: the takeover is refused if it changed. */
      from: string;
      worker: string;
      lease: string;
      reason: 'lease_expired' | 'lease_released';
      leaseEndedAt: string;
      at: string;
    }
  | { type: 'StartOperation'; at: string }
  | { type: 'StartStep'; step: string; attempt: number; provider?: string; at: string }
  | { type: 'WriteLog'; data: Data<'LogWritten'> }
  | { type: 'CompleteStep'; data: Data<'StepSucceeded'> }
  | { type: 'FailStep'; data: Data<'StepFailed'> }
  | { type: 'RequestCancellation'; user: string; at: string }
  | {
      type: 'FailOperation';
      reason: FailureReason;
      failedStep?: string;
      error: ErrorInfo;
      rollbackRequired: boolean;
      at: string;
    }
  | { type: 'StartRollback'; at: string }
  | { type: 'ContinueRollback'; skip: readonly string[]; at: string }
  | { type: 'StartUndo'; step: string; attempt: number; at: string }
  | { type: 'CompleteUndo'; step: string; attempt: number; at: string }
  | { type: 'FailUndo'; data: Data<'StepUndoFailed'> }
  | { type: 'ReportNotUndoable'; step: string; at: string }
  | { type: 'FinishRollback'; at: string }
  | { type: 'SucceedOperation'; at: string; effects?: Data<'OperationSucceeded'>['effects'] };

export type Decision = E.Either<OpledgerError, OperationEvent[]>;

const ok = (...events: OperationEvent[]): Decision => E.right(events);

/**
 * The Operation decider: given the state folded from its events, a command yields the events to
 * append, or a typed error when the state does not allow it. Pure: no clock, no I/O.
 *
 * @example
 * ```ts
 * import { decide, foldOperation } from 'opledger/domain';
 *
 * const decision = decide({ type: 'StartOperation', at }, foldOperation(events));
 * if (decision._tag === 'Right') await append(decision.right); // else decision.left is the error
 * ```
 */
export const decide = (command: OperationCommand, state: OperationState): Decision => {
  const invalid = (reason: string) =>
    E.left(new InvalidTransitionError(state.id || '(new)', command.type, reason));

  if (command.type === 'RequestOperation') {
    if (state.status !== 'none') return invalid('it already exists');
    return ok({ type: 'OperationRequested', data: command.data });
  }
  if (state.status === 'none') return E.left(new OperationNotFoundError('(unknown)'));

  const running = state.status === 'running' && !state.failure;
  const rollingBack = state.rollback.status === 'in_progress';

  switch (command.type) {
    case 'ClaimOperation':
      // Only an operation written for workers: one an engine runs has a process that may
      // still be alive, which no worker can tell.
      if (state.dispatch !== 'worker') return invalid('it is run by the engine that started it');
      if (state.owner) return invalid(`worker ${state.owner.worker} has claimed it`);
      if (state.status !== 'queued') return invalid(`it is ${state.status}`);
      return ok({
        type: 'OperationClaimed',
        data: { worker: command.worker, lease: command.lease, fence: 1, at: command.at },
      });

    case 'TakeOverOperation': {
      const owner = state.owner;
      if (!owner || owner.lease !== command.from) {
        return invalid(`its owner is not lease ${command.from}`);
      }
      if (hasEnded(state)) return invalid(`it has already ${state.status}`);
      const { worker, lease, reason, leaseEndedAt, at } = command;
      return ok({
        type: 'OperationTakenOver',
        data: {
          from: { worker: owner.worker, lease: owner.lease },
          worker,
          lease,
          fence: owner.fence + 1,
          reason,
          leaseEndedAt,
          at,
        },
      });
    }

    case 'StartOperation':
      if (state.status !== 'queued') return invalid(`it is ${state.status}`);
      if (state.cancelled) return E.left(new OperationCancelledError(state.id));
      return ok({ type: 'OperationStarted', data: { at: command.at } });

    case 'StartStep': {
      if (!running) return invalid(`it is not running (${state.status})`);
      if (state.cancelled) return E.left(new OperationCancelledError(state.id));
      const st = state.steps[command.step];
      if (!st) return invalid(`it has no step '${command.step}'`);
      if (state.inFlight) return invalid(`step '${state.inFlight}' is still running`);
      if (st.status === 'succeeded' || st.status === 'failed') {
        return invalid(`step '${command.step}' already ${st.status}`);
      }
      const { step, attempt, provider, at } = command;
      return ok({
        type: 'StepStarted',
        data: { step, attempt, at, ...(provider !== undefined ? { provider } : {}) },
      });
    }

    case 'WriteLog':
      // A line logged after the operation ended (a step logging after it returned) is
      // dropped, so the verdict stays the last line.
      if (hasEnded(state)) return ok();
      return ok({ type: 'LogWritten', data: command.data });

    case 'CompleteStep':
    case 'FailStep':
      // Once failed, only the rollback writes: a process that lost the operation cannot.
      if (state.failure) return invalid('it has already failed');
      if (state.inFlight !== command.data.step) {
        return invalid(`step '${command.data.step}' is not running`);
      }
      return ok(
        command.type === 'CompleteStep'
          ? { type: 'StepSucceeded', data: command.data }
          : { type: 'StepFailed', data: command.data },
      );

    case 'RequestCancellation':
      if (hasEnded(state)) return E.left(new OperationEndedError(state.id, state.status));
      // Idempotent: a second request changes nothing and writes nothing. An operation that
      // already failed is rolling back: a cancel has nothing left to do.
      if (state.cancelled || state.failure) return ok();
      return ok({ type: 'CancellationRequested', data: { user: command.user, at: command.at } });

    case 'FailOperation': {
      if (state.failure || hasEnded(state)) return invalid(`it has already ${state.status}`);
      const { reason, error, rollbackRequired, at, failedStep } = command;
      return ok({
        type: 'OperationFailed',
        data: {
          reason,
          error,
          rollbackRequired,
          at,
          ...(failedStep !== undefined ? { failedStep } : {}),
        },
      });
    }

    case 'StartRollback': {
      if (!state.failure?.rollbackRequired) return invalid('it has not failed with a rollback due');
      if (state.rollback.status !== 'none')
        return invalid(`its rollback is ${state.rollback.status}`);
      return ok({
        type: 'RollbackStarted',
        data: {
          reason: state.failure.reason,
          plan: stepsWithSideEffects(state).map((c) => c.step),
          at: command.at,
        },
      });
    }

    case 'ContinueRollback': {
      if (state.rollback.status !== 'failed') {
        return E.left(new RollbackNotFailedError(state.id, state.rollback.status));
      }
      const candidates = stepsWithSideEffects(state)
        .filter((c) => c.kind === 'undoable' && !state.rollback.undone.includes(c.step))
        .map((c) => c.step);
      const unknown = command.skip.find((s) => !candidates.includes(s));
      if (unknown !== undefined) return E.left(new UnknownStepError(state.id, unknown));
      const skip = [...new Set(command.skip)];
      return ok(
        {
          type: 'RollbackStarted',
          data: { reason: 'continue', plan: candidates, skip, at: command.at },
        },
        ...skip.map((step): OperationEvent => ({
          type: 'StepNotUndoable',
          data: { step, reason: 'skipped', at: command.at },
        })),
      );
    }

    case 'StartUndo': {
      if (!rollingBack) return invalid('it is not rolling back');
      const c = pendingRollback(state).find((p) => p.step === command.step);
      if (c?.kind !== 'undoable') return invalid(`step '${command.step}' is not due for undo`);
      return ok({
        type: 'StepUndoStarted',
        data: { step: command.step, attempt: command.attempt, outcome: c.outcome, at: command.at },
      });
    }

    case 'CompleteUndo':
      if (state.rollback.undoInFlight !== command.step) {
        return invalid(`the undo of '${command.step}' is not running`);
      }
      return ok({
        type: 'StepUndone',
        data: { step: command.step, attempt: command.attempt, at: command.at },
      });

    case 'FailUndo':
      if (state.rollback.undoInFlight !== command.data.step) {
        return invalid(`the undo of '${command.data.step}' is not running`);
      }
      return ok({ type: 'StepUndoFailed', data: command.data });

    case 'ReportNotUndoable': {
      if (!rollingBack) return invalid('it is not rolling back');
      const c = pendingRollback(state).find((p) => p.step === command.step);
      if (c?.kind !== 'irreversible') return invalid(`step '${command.step}' is not irreversible`);
      return ok({
        type: 'StepNotUndoable',
        data: { step: command.step, reason: 'irreversible', at: command.at },
      });
    }

    case 'FinishRollback': {
      if (!rollingBack) return invalid('it is not rolling back');
      const pending = pendingRollback(state);
      if (pending.length > 0) {
        return invalid(`steps still to roll back: ${pending.map((p) => p.step).join(', ')}`);
      }
      // The outcome is derived, never claimed: any change left in place fails the rollback.
      const left = notUndone(state);
      return ok({
        type: 'RollbackFinished',
        data: {
          outcome: left.length === 0 ? 'succeeded' : 'failed',
          notUndone: left,
          at: command.at,
        },
      });
    }

    case 'SucceedOperation': {
      if (!running) return invalid(`it is not running (${state.status})`);
      if (state.cancelled) return E.left(new OperationCancelledError(state.id));
      const unfinished = state.plan.filter((n) => state.steps[n]?.status !== 'succeeded');
      if (unfinished.length > 0) return invalid(`steps not done: ${unfinished.join(', ')}`);
      const { at, effects } = command;
      return ok({ type: 'OperationSucceeded', data: { at, ...(effects ? { effects } : {}) } });
    }
  }
};
