import { produce, type Draft } from 'immer';
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

const evolveDraft = (s: Draft<OperationState>, event: OperationEvent): void => {
  switch (event.type) {
    case 'OperationRequested': {
      const d = event.data;
      s.status = 'queued';
      s.id = d.operationId;
      s.type = d.type;
      s.environment = d.environment;
      s.resource = d.resource;
      s.user = d.user;
      s.params = d.params;
      s.createdAt = d.createdAt;
      if (d.idempotencyKey !== undefined) s.idempotencyKey = d.idempotencyKey;
      if (d.lifecycle !== undefined) s.lifecycle = d.lifecycle;
      s.plan = d.steps.map((st) => st.name);
      for (const st of d.steps) {
        s.steps[st.name] = { name: st.name, kind: st.kind, status: 'pending', attempts: 0 };
      }
      break;
    }
    case 'OperationStarted':
      s.status = 'running';
      s.startedAt = event.data.at;
      break;
    case 'StepStarted': {
      const st = s.steps[event.data.step];
      if (!st) break;
      st.status = 'running';
      st.attempts = event.data.attempt;
      st.outcomeUnknown = true;
      if (event.data.provider !== undefined) st.provider = event.data.provider;
      s.inFlight = st.name;
      break;
    }
    case 'StepSucceeded': {
      const st = s.steps[event.data.step];
      if (!st) break;
      st.status = 'succeeded';
      st.output = event.data.output;
      delete st.outcomeUnknown;
      if (event.data.provider !== undefined) st.provider = event.data.provider;
      st.completedAs = s.completedCount++;
      delete s.inFlight;
      break;
    }
    case 'StepFailed': {
      const st = s.steps[event.data.step];
      if (!st) break;
      // A step that threw is taken as not done: a run must not leave partial effects behind.
      st.status = event.data.willRetry || event.data.failoverTo ? 'pending' : 'failed';
      delete st.outcomeUnknown;
      delete s.inFlight;
      if (event.data.possiblyDone) {
        // It ran, but what it returned could not be recorded: undo it as if after a crash.
        st.outcomeUnknown = true;
        st.completedAs = s.completedCount++;
      }
      break;
    }
    case 'CancellationRequested':
      s.cancelled = true;
      s.cancelledBy = event.data.user;
      break;
    case 'OperationFailed': {
      const d = event.data;
      s.status = 'failed';
      s.failure = {
        reason: d.reason,
        error: d.error,
        rollbackRequired: d.rollbackRequired,
        ...(d.failedStep !== undefined ? { failedStep: d.failedStep } : {}),
      };
      // A step still in flight at this point is one whose outcome a crash made unknown.
      if (!d.rollbackRequired) s.finishedAt = d.at;
      break;
    }
    case 'RollbackStarted':
      s.rollback.status = 'in_progress';
      s.rollback.reason = event.data.reason;
      s.rollback.undoFailed = {};
      s.rollback.reported = [];
      delete s.finishedAt;
      break;
    case 'StepUndoStarted':
      s.rollback.undoInFlight = event.data.step;
      break;
    case 'StepUndone':
      s.rollback.undone.push(event.data.step);
      delete s.rollback.undoInFlight;
      break;
    case 'StepUndoFailed':
      if (!event.data.willRetry) s.rollback.undoFailed[event.data.step] = event.data.error.message;
      delete s.rollback.undoInFlight;
      break;
    case 'StepNotUndoable':
      s.rollback.reported.push(event.data.step);
      if (event.data.reason === 'skipped' && !s.rollback.skipped.includes(event.data.step)) {
        s.rollback.skipped.push(event.data.step);
      }
      break;
    case 'RollbackFinished':
      s.rollback.status = event.data.outcome;
      s.rollback.notUndone = event.data.notUndone;
      s.finishedAt = event.data.at;
      break;
    case 'OperationSucceeded':
      s.status = 'succeeded';
      s.finishedAt = event.data.at;
      if (event.data.effects) s.effects = event.data.effects;
      break;
    case 'LogWritten':
      break;
  }
  s.lastEventAt =
    event.type === 'OperationRequested' ? event.data.createdAt : (event.data.at ?? s.lastEventAt);
};

export const evolve = (state: OperationState, event: OperationEvent): OperationState =>
  produce(state, (draft) => evolveDraft(draft, event));

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
