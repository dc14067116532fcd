import type { OperationCommand } from './decide.js';
import { toErrorInfo } from './error-info.js';
import { OperationCancelledError } from './errors.js';
import type { ErrorInfo, EventOf, FailureReason } from './events.js';
import { plannedStep, type OperationState } from './operation.js';
import { isRetryable, retryDelayMs, type RetryPolicy } from './retry-policy.js';
import { needsRollback, pendingRollback, type RollbackCandidate } from './rollback-plan.js';

/**
 * The choices an engine makes while it drives an Operation, as pure functions of the state
 * folded from its events, the plan (the definition's steps) and what an attempt just did.
 * The engine performs the action it is given and records its outcome; it chooses nothing.
 */

/** What the decisions need to know of a step: a definition's `Step` is one. */
export interface StepPlan {
  readonly name: string;
  readonly retry: RetryPolicy;
  readonly undoRetry: RetryPolicy;
  /** Failover providers tried in turn; none means one attempt series without a provider. */
  readonly alternatives?: readonly string[];
  /** Only whether there is one matters here. */
  readonly undo?: unknown;
}

export interface OperationPlan<S extends StepPlan = StepPlan> {
  readonly steps: readonly S[];
}

/** Run attempt `attempt` (1-based, per provider) of `step` with the provider at `providerIndex`. */
export interface RunStep<S extends StepPlan = StepPlan> {
  kind: 'run';
  step: S;
  providerIndex: number;
  /** `step.alternatives[providerIndex]`, undefined for a step without alternatives. */
  provider: string | undefined;
  attempt: number;
}

/** How the forward run ends when it does not succeed: the data of its OperationFailed. */
export interface ForwardFailure {
  kind: 'fail';
  reason: FailureReason;
  /** The step that failed; absent when no step was running (a cancel before a step began). */
  step?: string;
  error: ErrorInfo;
}

export type ForwardAction<S extends StepPlan = StepPlan> =
  | RunStep<S>
  | { kind: 'wait'; delayMs: number; then: RunStep<S> }
  | { kind: 'succeed' }
  | ForwardFailure;

const run = <S extends StepPlan>(step: S, providerIndex: number, attempt: number): RunStep<S> => ({
  kind: 'run',
  step,
  providerIndex,
  provider: step.alternatives?.[providerIndex],
  attempt,
});

/**
 * The first attempt of the first step of the plan that the state says is still to do (steps a
 * `when` left out of the plan and steps already done are skipped), or 'succeed' when none is.
 *
 * @example
 * nextStep(state, definition); // { kind: 'run', step, providerIndex: 0, provider: 'a', attempt: 1 }
 */
export const nextStep = <S extends StepPlan>(
  state: OperationState,
  plan: OperationPlan<S>,
): RunStep<S> | { kind: 'succeed' } => {
  for (const step of plan.steps) {
    const planned = plannedStep(state.steps, step.name);
    if (planned && planned.status !== 'succeeded') return run(step, 0, 1);
  }
  return { kind: 'succeed' };
};

/**
 * The verdict of a cancel seen by the forward run. `step` is the step it stopped, if any: a
 * cancel seen before a step's first attempt names no step, as that step never ran.
 */
export const cancelled = (state: OperationState, step?: string): ForwardFailure => ({
  kind: 'fail',
  reason: 'cancellation',
  ...(step !== undefined ? { step } : {}),
  error: toErrorInfo(new OperationCancelledError(state.id)),
});

/** The verdict of a cancel seen just before `action` would start. */
export const cancelledBefore = (state: OperationState, action: RunStep): ForwardFailure =>
  cancelled(state, action.attempt > 1 || action.providerIndex > 0 ? action.step.name : undefined);

/** How an attempt failed, as the engine observed it. */
export type AttemptFailure =
  /** The step's signal was aborted by a cancel. */
  | 'cancelled'
  /** The run returned, but its output is not JSON data: its changes may be out there. */
  | 'invalid_output'
  /** The run threw. */
  | 'error';

export type StepFailedData = EventOf<'StepFailed'>['data'];

/**
 * What follows a failed attempt: the StepFailed to record and the next action. The policy is
 * the step's: retry with the same provider until `maxAttempts` (unless the error is
 * non-retryable), then fail over to the next alternative, then fail the operation.
 *
 * @example
 * afterAttemptFailed(state, action, 'error', error, at);
 * // { data: { ..., willRetry: true, retryInMs: 1000 }, next: { kind: 'wait', delayMs: 1000, then } }
 */
export const afterAttemptFailed = <S extends StepPlan>(
  state: OperationState,
  action: RunStep<S>,
  failure: AttemptFailure,
  error: ErrorInfo,
  at: string,
): { data: StepFailedData; next: ForwardAction<S> } => {
  const { step, attempt, provider, providerIndex } = action;
  const base = { step: step.name, attempt, at, ...(provider !== undefined ? { provider } : {}) };
  if (failure === 'cancelled') {
    return {
      data: { ...base, error, willRetry: false, cancelled: true },
      next: cancelled(state, step.name),
    };
  }
  const failed: ForwardFailure = { kind: 'fail', reason: 'failure', step: step.name, error };
  if (failure === 'invalid_output') {
    // The run happened: its changes are out there even though its output is not.
    return { data: { ...base, error, willRetry: false, possiblyDone: true }, next: failed };
  }
  if (attempt < step.retry.maxAttempts && isRetryable(step.retry, error)) {
    const delayMs = retryDelayMs(step.retry, attempt);
    return {
      data: { ...base, error, willRetry: true, retryInMs: delayMs },
      next: { kind: 'wait', delayMs, then: run(step, providerIndex, attempt + 1) },
    };
  }
  const failoverTo = step.alternatives?.[providerIndex + 1];
  return {
    // An empty provider name is not recorded as a failover (evolve would take it as none).
    data: { ...base, error, willRetry: false, ...(failoverTo ? { failoverTo } : {}) },
    next: failoverTo === undefined ? failed : run(step, providerIndex + 1, 1),
  };
};

/**
 * The OperationFailed command for a forward run that did not succeed. A rollback is due when
 * the operation got to run and has a step with side effects in its plan.
 */
export const failOperation = (
  state: OperationState,
  failure: ForwardFailure,
  at: string,
): Extract<OperationCommand, { type: 'FailOperation' }> => ({
  type: 'FailOperation',
  data: {
    reason: failure.reason,
    error: failure.error,
    rollbackRequired: state.status === 'running' && needsRollback(state),
    at,
    ...(failure.step ? { failedStep: failure.step } : {}),
  },
});

/** The verdict on an operation whose process stopped before it ended: roll back what it did. */
export const recovered = (
  state: OperationState,
  reason: 'recovery' | 'worker_lost' = 'recovery',
): ForwardFailure => ({
  kind: 'fail',
  reason,
  error: {
    name: 'InterruptedOperation',
    message: state.inFlight
      ? `the ${reason === 'worker_lost' ? 'worker' : 'process'} running this operation stopped while step '${state.inFlight}' was running, so its outcome is unknown; recovered by rolling back`
      : `the ${reason === 'worker_lost' ? 'worker' : 'process'} running this operation stopped before it ended; recovered by rolling back`,
    causes: [],
  },
  ...(state.inFlight ? { step: state.inFlight } : {}),
});

export type RollbackAction<S extends StepPlan = StepPlan> =
  /** An irreversible step: record that it stays in place. */
  | { kind: 'report'; step: string }
  /** An undoable step this engine has no undo for: record one failed attempt with `error`. */
  | { kind: 'missing_undo'; step: string; error: ErrorInfo }
  | { kind: 'undo'; step: S; candidate: RollbackCandidate; attempt: number }
  /** Nothing left: finish the rollback (its verdict names what was not undone). */
  | { kind: 'finish' };

/**
 * The next thing the rollback does: the newest change with side effects still pending in this
 * pass, undone if the plan has an undo for it; 'finish' once none is left.
 *
 * @example
 * nextRollbackAction(state, definition); // { kind: 'undo', step, candidate, attempt: 1 }
 */
export const nextRollbackAction = <S extends StepPlan>(
  state: OperationState,
  plan: OperationPlan<S> | undefined,
): RollbackAction<S> => {
  const next = pendingRollback(state)[0];
  if (!next) return { kind: 'finish' };
  if (next.kind === 'irreversible') return { kind: 'report', step: next.step };
  const step = plan?.steps.find((s) => s.name === next.step);
  if (!step?.undo) {
    return {
      kind: 'missing_undo',
      step: next.step,
      error: {
        name: 'MissingUndo',
        message: `this engine has no undo for step '${next.step}' of operation type '${state.type}'; register the definition and call continueRollback`,
        causes: [],
      },
    };
  }
  return { kind: 'undo', step, candidate: next, attempt: 1 };
};

/**
 * Whether a failed undo attempt is retried, and after how long: the step's undo policy. When
 * it is not, the rollback moves on and the step is named in its verdict.
 */
export const afterUndoFailed = (
  step: StepPlan,
  attempt: number,
  error: ErrorInfo,
): { willRetry: true; retryInMs: number } | { willRetry: false } =>
  attempt < step.undoRetry.maxAttempts && isRetryable(step.undoRetry, error)
    ? { willRetry: true, retryInMs: retryDelayMs(step.undoRetry, attempt) }
    : { willRetry: false };
