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
import type { EventOf, OperationEvent } from './events.js';
import { evolve, hasEnded, plannedStep, type OperationState } from './operation.js';
import { notUndone, pendingRollback, stepsWithSideEffects } from './rollback-plan.js';

type Data<T extends OperationEvent['type']> = EventOf<T>['data'];

/**
 * A command: `{ type, data }`, the shape of an event (and of Emmett's `Command`). One shape for
 * every command, so a reader finds what a command says in the same place, and a command whose
 * data is already its event's payload passes it on as it is. Commands carry their timestamp in
 * `data.at` (a request its `createdAt`): the domain never reads a clock.
 */
export type Command<T extends string, D> = { type: T; data: D };

export type OperationCommand =
  | Command<'RequestOperation', Data<'OperationRequested'>>
  | Command<'ClaimOperation', { worker: string; lease: string; at: string }>
  | Command<
      'TakeOverOperation',
      {
        /** The lease the taker read as the owner's: the takeover is refused if it changed. */
        from: string;
        worker: string;
        lease: string;
        reason: 'lease_expired' | 'lease_released';
        leaseEndedAt: string;
        at: string;
      }
    >
  | Command<'StartOperation', { at: string }>
  | Command<'StartStep', Data<'StepStarted'>>
  | Command<'WriteLog', Data<'LogWritten'>>
  | Command<'CompleteStep', Data<'StepSucceeded'>>
  | Command<'FailStep', Data<'StepFailed'>>
  | Command<'RequestCancellation', Data<'CancellationRequested'>>
  | Command<'FailOperation', Data<'OperationFailed'>>
  | Command<'StartRollback', { at: string }>
  | Command<'ContinueRollback', { skip: readonly string[]; at: string }>
  /** The event adds the outcome the undo is for, which the state knows. */
  | Command<'StartUndo', { step: string; attempt: number; at: string }>
  | Command<'CompleteUndo', Data<'StepUndone'>>
  | Command<'FailUndo', Data<'StepUndoFailed'>>
  | Command<'ReportNotUndoable', { step: string; at: string }>
  | Command<'FinishRollback', { at: string }>
  | Command<'SucceedOperation', Data<'OperationSucceeded'>>;

export type Decision = E.Either<OpledgerError, OperationEvent[]>;

const ok = (...events: OperationEvent[]): Decision => E.right(events);

/**
 * The first check of every command: a request is for an empty stream, any other command for an
 * operation that exists. The domain cannot name an operation it has no event of; the engine,
 * which knows the stream, names it.
 */
const admit = (
  command: OperationCommand,
  state: OperationState,
): E.Either<OpledgerError, OperationCommand> => {
  if (command.type === 'RequestOperation') {
    return state.status === 'none'
      ? E.right(command)
      : E.left(new InvalidTransitionError(state.id, command.type, 'it already exists'));
  }
  return state.status === 'none'
    ? E.left(new OperationNotFoundError('(unknown)'))
    : E.right(command);
};

/**
 * The Operation decider: given the state folded from its events, a command yields the events to
 * append, or a typed error when the state does not allow it. Pure: no clock, no I/O.
 *
 * @example
 * ```ts
 * import { decide, foldOperation } from 'opledger/domain';
 *
 * const decision = decide({ type: 'StartOperation', data: { at } }, foldOperation(events));
 * if (decision._tag === 'Right') await append(decision.right); // else decision.left is the error
 * ```
 */
export const decide = (command: OperationCommand, state: OperationState): Decision => {
  // Not `pipe(admit(...), E.flatMap(...))`: fp-ts's flatMap accepts both argument orders, and
  // telling them apart copies its arguments on every call, 5% of an engine operation in a
  // profile (every command is decided once, and again after a conflict).
  const admitted = admit(command, state);
  return E.isLeft(admitted) ? admitted : rules(admitted.right, state);
};

/** What a command leads to: the events to append and the state after them. */
export interface Transition {
  events: OperationEvent[];
  state: OperationState;
}

/**
 * The pure pipeline of one command: admit it, decide its events, fold them into the state they
 * lead to. The engine appends the events and keeps the state; a `Left` is the typed error it
 * raises.
 *
 * @example
 * ```ts
 * const next = transition({ type: 'StartOperation', data: { at } }, state);
 * if (E.isRight(next)) await append(next.right.events); // next.right.state is the new state
 * ```
 */
export const transition = (
  command: OperationCommand,
  state: OperationState,
): E.Either<OpledgerError, Transition> => {
  // Not `pipe(decide(...), E.map(...))`: every command of every operation goes through here,
  // and that allocated a closure, a mapped Either and a reduce's callback each time.
  const decided = decide(command, state);
  if (E.isLeft(decided)) return decided;
  const events = decided.right;
  let next = state;
  for (const event of events) next = evolve(next, event);
  return E.right({ events, state: next });
};

/** A refusal of `command` in `state`, for `reason`. */
const refuse = (command: OperationCommand, state: OperationState, reason: string): Decision =>
  E.left(new InvalidTransitionError(state.id, command.type, reason));

/** The rules of each command, for a command `admit` let through. */
const rules = (command: OperationCommand, state: OperationState): Decision => {
  const running = state.status === 'running' && !state.failure;
  const rollingBack = state.rollback.status === 'in_progress';

  switch (command.type) {
    case 'RequestOperation':
      return ok({ type: 'OperationRequested', data: command.data });

    case 'ClaimOperation':
      // Only an operation written for workers: one an engine runs has a process that may
      // still be alive, which no worker can tell.
      if (state.dispatch !== 'worker')
        return refuse(command, state, 'it is run by the engine that started it');
      if (state.owner) return refuse(command, state, `worker ${state.owner.worker} has claimed it`);
      if (state.status !== 'queued') return refuse(command, state, `it is ${state.status}`);
      return ok({
        type: 'OperationClaimed',
        data: {
          worker: command.data.worker,
          lease: command.data.lease,
          fence: 1,
          at: command.data.at,
        },
      });

    case 'TakeOverOperation': {
      const owner = state.owner;
      if (!owner || owner.lease !== command.data.from) {
        return refuse(command, state, `its owner is not lease ${command.data.from}`);
      }
      if (hasEnded(state)) return refuse(command, state, `it has already ${state.status}`);
      const { worker, lease, reason, leaseEndedAt, at } = command.data;
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
      if (state.status !== 'queued') return refuse(command, state, `it is ${state.status}`);
      if (state.cancelled) return E.left(new OperationCancelledError(state.id));
      return ok({ type: 'OperationStarted', data: { at: command.data.at } });

    case 'StartStep': {
      if (!running) return refuse(command, state, `it is not running (${state.status})`);
      if (state.cancelled) return E.left(new OperationCancelledError(state.id));
      const st = plannedStep(state.steps, command.data.step);
      if (!st) return refuse(command, state, `it has no step '${command.data.step}'`);
      if (state.inFlight)
        return refuse(command, state, `step '${state.inFlight}' is still running`);
      if (st.status === 'succeeded' || st.status === 'failed') {
        return refuse(command, state, `step '${command.data.step}' already ${st.status}`);
      }
      const { step, attempt, provider, at } = command.data;
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
      if (state.failure) return refuse(command, state, 'it has already failed');
      if (state.inFlight !== command.data.step) {
        return refuse(command, state, `step '${command.data.step}' is not running`);
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
      return ok({ type: 'CancellationRequested', data: command.data });

    case 'FailOperation': {
      if (state.failure || hasEnded(state))
        return refuse(command, state, `it has already ${state.status}`);
      const { reason, error, rollbackRequired, at, failedStep } = command.data;
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
      if (!state.failure?.rollbackRequired)
        return refuse(command, state, 'it has not failed with a rollback due');
      if (state.rollback.status !== 'none')
        return refuse(command, state, `its rollback is ${state.rollback.status}`);
      return ok({
        type: 'RollbackStarted',
        data: {
          reason: state.failure.reason,
          plan: stepsWithSideEffects(state).map((c) => c.step),
          at: command.data.at,
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
      const unknown = command.data.skip.find((s) => !candidates.includes(s));
      if (unknown !== undefined) return E.left(new UnknownStepError(state.id, unknown));
      const skip = [...new Set(command.data.skip)];
      return ok(
        {
          type: 'RollbackStarted',
          data: { reason: 'continue', plan: candidates, skip, at: command.data.at },
        },
        ...skip.map((step): OperationEvent => ({
          type: 'StepNotUndoable',
          data: { step, reason: 'skipped', at: command.data.at },
        })),
      );
    }

    case 'StartUndo': {
      if (!rollingBack) return refuse(command, state, 'it is not rolling back');
      const { step, attempt, at } = command.data;
      const c = pendingRollback(state).find((p) => p.step === step);
      if (c?.kind !== 'undoable')
        return refuse(command, state, `step '${step}' is not due for undo`);
      return ok({ type: 'StepUndoStarted', data: { step, attempt, outcome: c.outcome, at } });
    }

    case 'CompleteUndo':
    case 'FailUndo':
      if (state.rollback.undoInFlight !== command.data.step) {
        return refuse(command, state, `the undo of '${command.data.step}' is not running`);
      }
      return ok(
        command.type === 'CompleteUndo'
          ? { type: 'StepUndone', data: command.data }
          : { type: 'StepUndoFailed', data: command.data },
      );

    case 'ReportNotUndoable': {
      if (!rollingBack) return refuse(command, state, 'it is not rolling back');
      const { step, at } = command.data;
      const c = pendingRollback(state).find((p) => p.step === step);
      if (c?.kind !== 'irreversible')
        return refuse(command, state, `step '${step}' is not irreversible`);
      return ok({ type: 'StepNotUndoable', data: { step, reason: 'irreversible', at } });
    }

    case 'FinishRollback': {
      if (!rollingBack) return refuse(command, state, 'it is not rolling back');
      const pending = pendingRollback(state);
      if (pending.length > 0) {
        return refuse(
          command,
          state,
          `steps still to roll back: ${pending.map((p) => p.step).join(', ')}`,
        );
      }
      // The outcome is derived, never claimed: any change left in place fails the rollback.
      const left = notUndone(state);
      return ok({
        type: 'RollbackFinished',
        data: {
          outcome: left.length === 0 ? 'succeeded' : 'failed',
          notUndone: left,
          at: command.data.at,
        },
      });
    }

    case 'SucceedOperation': {
      if (!running) return refuse(command, state, `it is not running (${state.status})`);
      if (state.cancelled) return E.left(new OperationCancelledError(state.id));
      const unfinished = state.plan.filter(
        (n) => plannedStep(state.steps, n)?.status !== 'succeeded',
      );
      if (unfinished.length > 0)
        return refuse(command, state, `steps not done: ${unfinished.join(', ')}`);
      const { at, effects } = command.data;
      return ok({ type: 'OperationSucceeded', data: { at, ...(effects ? { effects } : {}) } });
    }
  }
};
