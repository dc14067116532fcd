import { deepFreeze } from './deep-freeze.js';
import type {
  ErrorInfo,
  FailureReason,
  NotUndone,
  OperationEvent,
  ResourceRef,
  RollbackReason,
  StepKind,
} from './events.js';

export type OperationStatus = 'queued' | 'running' | 'succeeded' | 'failed';
export type RollbackStatus = 'none' | 'in_progress' | 'succeeded' | 'failed';

export interface StepRecord {
  name: string;
  kind: StepKind;
  status: 'pending' | 'running' | 'succeeded' | 'failed';
  attempts: number;
  provider?: string;
  output?: unknown;
  /** Position in completion order; rollback walks these from the highest down. */
  completedAs?: number;
  /** Started and never finished: after a crash, the step may or may not have run. */
  outcomeUnknown?: boolean;
}

export interface OperationState {
  /** 'none' until OperationRequested: the stream is empty. */
  status: 'none' | OperationStatus;
  id: string;
  type: string;
  environment: string;
  resource: ResourceRef;
  user: string;
  params: Record<string, unknown>;
  idempotencyKey?: string;
  /** From the definition: 'provision' creates the resource, 'deprovision' deletes it. */
  lifecycle?: 'provision' | 'deprovision';
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  cancelled: boolean;
  cancelledBy?: string;
  /** Step names in the order of the definition. */
  plan: string[];
  steps: Record<string, StepRecord>;
  completedCount: number;
  inFlight?: string;
  failure?: {
    reason: FailureReason;
    failedStep?: string;
    error: ErrorInfo;
    rollbackRequired: boolean;
  };
  rollback: {
    status: RollbackStatus;
    reason?: RollbackReason;
    undone: string[];
    skipped: string[];
    /** Undos that failed for good in the current rollback pass. */
    undoFailed: Record<string, string>;
    /** Irreversible or skipped steps already reported in the current pass. */
    reported: string[];
    undoInFlight?: string;
    notUndone: NotUndone[];
  };
  lastEventAt?: string;
  /** What the operation did to its resource, recorded when it succeeded. */
  effects?: { lifecycle?: 'provision' | 'deprovision'; release?: string };
}

export const initialState = (): OperationState => ({
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
});

/**
 * An Operation has ended when it reached a terminal status and no rollback is still owed.
 * A failed Operation whose rollback failed has ended too: `continueRollback` may reopen it.
 */
export const hasEnded = (state: OperationState): boolean => {
  if (state.status === 'succeeded') return true;
  if (state.status !== 'failed') return false;
  if (!state.failure?.rollbackRequired) return true;
  return state.rollback.status === 'succeeded' || state.rollback.status === 'failed';
};

// Object.freeze without turning the state's declared types readonly.
const freeze = <T>(value: T): T => Object.freeze(value);

/** The steps with one of them replaced. */
const withStep = (steps: OperationState['steps'], step: StepRecord): OperationState['steps'] =>
  freeze({ ...steps, [step.name]: freeze(step) });

/**
 * The state after `event`, as a new object; the parts of `state` it does not change are shared.
 * Every object it creates is built whole and frozen before it is returned, and values taken from
 * the event (params, outputs, errors) are frozen deeply, so the whole state stays frozen.
 */
const next = (s: OperationState, event: OperationEvent): OperationState => {
  switch (event.type) {
    case 'OperationRequested': {
      const d = event.data;
      const steps: Record<string, StepRecord> = { ...s.steps };
      for (const st of d.steps) {
        steps[st.name] = freeze({ name: st.name, kind: st.kind, status: 'pending', attempts: 0 });
      }
      return {
        ...s,
        status: 'queued',
        id: d.operationId,
        type: d.type,
        environment: d.environment,
        resource: deepFreeze(d.resource),
        user: d.user,
        params: deepFreeze(d.params),
        createdAt: d.createdAt,
        ...(d.idempotencyKey !== undefined ? { idempotencyKey: d.idempotencyKey } : {}),
        ...(d.lifecycle !== undefined ? { lifecycle: d.lifecycle } : {}),
        plan: freeze(d.steps.map((st) => st.name)),
        steps: freeze(steps),
      };
    }
    case 'OperationStarted':
      return { ...s, status: 'running', startedAt: event.data.at };
    case 'StepStarted': {
      const st = s.steps[event.data.step];
      if (!st) return { ...s };
      const { attempt, provider } = event.data;
      return {
        ...s,
        steps: withStep(s.steps, {
          ...st,
          status: 'running',
          attempts: attempt,
          outcomeUnknown: true,
          ...(provider !== undefined ? { provider } : {}),
        }),
        inFlight: st.name,
      };
    }
    case 'StepSucceeded': {
      const st = s.steps[event.data.step];
      if (!st) return { ...s };
      const { outcomeUnknown: _unknown, ...step } = st;
      const { output, provider } = event.data;
      const { inFlight: _inFlight, ...rest } = s;
      return {
        ...rest,
        steps: withStep(s.steps, {
          ...step,
          status: 'succeeded',
          output: deepFreeze(output),
          ...(provider !== undefined ? { provider } : {}),
          completedAs: s.completedCount,
        }),
        completedCount: s.completedCount + 1,
      };
    }
    case 'StepFailed': {
      const st = s.steps[event.data.step];
      if (!st) return { ...s };
      const { outcomeUnknown: _unknown, ...step } = st;
      const { inFlight: _inFlight, ...rest } = s;
      // A step that threw is taken as not done: a run must not leave partial effects behind.
      const status = event.data.willRetry || event.data.failoverTo ? 'pending' : 'failed';
      // It ran, but what it returned could not be recorded: undo it as if after a crash.
      const possiblyDone = event.data.possiblyDone === true;
      return {
        ...rest,
        steps: withStep(s.steps, {
          ...step,
          status,
          ...(possiblyDone ? { outcomeUnknown: true, completedAs: s.completedCount } : {}),
        }),
        completedCount: s.completedCount + (possiblyDone ? 1 : 0),
      };
    }
    case 'CancellationRequested':
      return { ...s, cancelled: true, cancelledBy: event.data.user };
    case 'OperationFailed': {
      const d = event.data;
      return {
        ...s,
        status: 'failed',
        failure: freeze({
          reason: d.reason,
          error: deepFreeze(d.error),
          rollbackRequired: d.rollbackRequired,
          ...(d.failedStep !== undefined ? { failedStep: d.failedStep } : {}),
        }),
        // A step still in flight at this point is one whose outcome a crash made unknown.
        ...(!d.rollbackRequired ? { finishedAt: d.at } : {}),
      };
    }
    case 'RollbackStarted': {
      const { finishedAt: _finishedAt, ...rest } = s;
      return {
        ...rest,
        rollback: freeze({
          ...s.rollback,
          status: 'in_progress',
          reason: event.data.reason,
          undoFailed: freeze({}),
          reported: freeze([]),
        }),
      };
    }
    case 'StepUndoStarted':
      return { ...s, rollback: freeze({ ...s.rollback, undoInFlight: event.data.step }) };
    case 'StepUndone': {
      const { undoInFlight: _undoInFlight, ...rollback } = s.rollback;
      return {
        ...s,
        rollback: freeze({ ...rollback, undone: freeze([...rollback.undone, event.data.step]) }),
      };
    }
    case 'StepUndoFailed': {
      const { undoInFlight: _undoInFlight, ...rollback } = s.rollback;
      const { step, willRetry, error } = event.data;
      return {
        ...s,
        rollback: freeze(
          willRetry
            ? rollback
            : {
                ...rollback,
                undoFailed: freeze({ ...rollback.undoFailed, [step]: error.message }),
              },
        ),
      };
    }
    case 'StepNotUndoable': {
      const { step, reason } = event.data;
      const r = s.rollback;
      return {
        ...s,
        rollback: freeze({
          ...r,
          reported: freeze([...r.reported, step]),
          ...(reason === 'skipped' && !r.skipped.includes(step)
            ? { skipped: freeze([...r.skipped, step]) }
            : {}),
        }),
      };
    }
    case 'RollbackFinished':
      return {
        ...s,
        rollback: freeze({
          ...s.rollback,
          status: event.data.outcome,
          notUndone: deepFreeze(event.data.notUndone),
        }),
        finishedAt: event.data.at,
      };
    case 'OperationSucceeded':
      return {
        ...s,
        status: 'succeeded',
        finishedAt: event.data.at,
        ...(event.data.effects ? { effects: deepFreeze(event.data.effects) } : {}),
      };
    case 'LogWritten':
      return { ...s };
  }
};

/**
 * Pure: returns a new, deeply frozen state and never changes `state` (plain objects and
 * spreads; the parts an event leaves alone are shared with `state`, which is why they must be
 * frozen too: a state that is not, such as `initialState()` or one read back from a read
 * store's JSON, is frozen in place first). Values taken from the event are frozen in place.
 */
export const evolve = (state: OperationState, event: OperationEvent): OperationState => {
  if (!Object.isFrozen(state)) for (const part of Object.values(state)) deepFreeze(part);
  const after = next(state, event);
  after.lastEventAt =
    event.type === 'OperationRequested'
      ? event.data.createdAt
      : (event.data.at ?? state.lastEventAt);
  return freeze(after);
};

/** Outputs of the steps that succeeded, by step name: what later steps and effects read. */
export const stepOutputs = (state: OperationState): Record<string, unknown> =>
  Object.fromEntries(
    Object.values(state.steps)
      .filter((s) => s.status === 'succeeded')
      .map((s) => [s.name, s.output]),
  );

export const foldOperation = (events: Iterable<OperationEvent>): OperationState => {
  let state = initialState();
  for (const event of events) state = evolve(state, event);
  return state;
};
