// The per-event fold as it was before the batch fold (issue 17, round 3): every event made a new
// frozen state, sharing what it left alone. Kept here as the oracle the draft fold
// of src/domain/operation.ts is checked against (test/property/operation-fold.property.test.ts),
// unchanged but for looking planned steps up as own keys (as the draft fold does).
import { deepFreeze } from '../../src/domain/deep-freeze.js';
import type { OperationEvent } from '../../src/domain/events.js';
import type { EachOptionalField, OperationState, StepRecord } from '../../src/domain/operation.js';

const freeze = <T>(value: T): T => Object.freeze(value);

// The copies name every field instead of spreading: V8 copies a spread of a frozen object field
// by field through its slow path (about 8x slower than an unfrozen one), and every state is
// frozen. An optional field is copied only when set, so that the copy has the same own keys as
// the original; each entry of `_copied` is that `if` as an expression, and keeps no value
// (`void`), so V8 does not even build the literal. `omit` leaves out the one optional field an
// event clears.

const copyState = (s: OperationState, omit?: 'inFlight' | 'finishedAt'): OperationState => {
  const c: OperationState = {
    status: s.status,
    id: s.id,
    type: s.type,
    environment: s.environment,
    resource: s.resource,
    user: s.user,
    params: s.params,
    createdAt: s.createdAt,
    cancelled: s.cancelled,
    plan: s.plan,
    steps: s.steps,
    completedCount: s.completedCount,
    rollback: s.rollback,
  };
  const _copied: EachOptionalField<OperationState> = {
    idempotencyKey: void (s.idempotencyKey !== undefined && (c.idempotencyKey = s.idempotencyKey)),
    lifecycle: void (s.lifecycle !== undefined && (c.lifecycle = s.lifecycle)),
    startedAt: void (s.startedAt !== undefined && (c.startedAt = s.startedAt)),
    finishedAt: void (
      s.finishedAt !== undefined &&
      omit !== 'finishedAt' &&
      (c.finishedAt = s.finishedAt)
    ),
    cancelledBy: void (s.cancelledBy !== undefined && (c.cancelledBy = s.cancelledBy)),
    inFlight: void (s.inFlight !== undefined && omit !== 'inFlight' && (c.inFlight = s.inFlight)),
    failure: void (s.failure !== undefined && (c.failure = s.failure)),
    lastEventAt: void (s.lastEventAt !== undefined && (c.lastEventAt = s.lastEventAt)),
    effects: void (s.effects !== undefined && (c.effects = s.effects)),
    dispatch: void (s.dispatch !== undefined && (c.dispatch = s.dispatch)),
    owner: void (s.owner !== undefined && (c.owner = s.owner)),
  };
  return c;
};

const copyStep = (s: StepRecord, omit?: 'outcomeUnknown'): StepRecord => {
  const c: StepRecord = { name: s.name, kind: s.kind, status: s.status, attempts: s.attempts };
  const _copied: EachOptionalField<StepRecord> = {
    provider: void (s.provider !== undefined && (c.provider = s.provider)),
    // Kept even when undefined, as a step that succeeded without output records it.
    output: void ('output' in s && (c.output = s.output)),
    completedAs: void (s.completedAs !== undefined && (c.completedAs = s.completedAs)),
    outcomeUnknown: void (
      s.outcomeUnknown !== undefined &&
      omit !== 'outcomeUnknown' &&
      (c.outcomeUnknown = s.outcomeUnknown)
    ),
    heartbeat: void (s.heartbeat !== undefined && (c.heartbeat = s.heartbeat)),
  };
  return c;
};

type Rollback = OperationState['rollback'];

const copyRollback = (r: Rollback, omit?: 'undoInFlight'): Rollback => {
  const c: Rollback = {
    status: r.status,
    undone: r.undone,
    skipped: r.skipped,
    undoFailed: r.undoFailed,
    reported: r.reported,
    notUndone: r.notUndone,
  };
  const _copied: EachOptionalField<Rollback> = {
    reason: void (r.reason !== undefined && (c.reason = r.reason)),
    undoInFlight: void (
      r.undoInFlight !== undefined &&
      omit !== 'undoInFlight' &&
      (c.undoInFlight = r.undoInFlight)
    ),
  };
  return c;
};

/** The steps with one of them replaced: a new frozen object sharing the other steps. */
// A spread, not an assignment, so that any step name (even '__proto__') is an own key.
const withStep = (steps: OperationState['steps'], step: StepRecord): OperationState['steps'] =>
  freeze({ ...steps, [step.name]: freeze(step) });

/**
 * The state after `event`, as a new object that is changed here and frozen by `evolve`; the
 * parts of `state` the event leaves alone are shared with it. Every object made here is frozen
 * before it is returned, and values taken from the event (params, outputs, errors) are frozen
 * deeply, so the whole state stays frozen.
 */
const next = (s: OperationState, event: OperationEvent): OperationState => {
  switch (event.type) {
    case 'OperationRequested': {
      const d = event.data;
      const n = copyState(s);
      n.status = 'queued';
      n.id = d.operationId;
      n.type = d.type;
      n.environment = d.environment;
      n.resource = deepFreeze(d.resource);
      n.user = d.user;
      n.params = deepFreeze(d.params);
      n.createdAt = d.createdAt;
      if (d.idempotencyKey !== undefined) n.idempotencyKey = d.idempotencyKey;
      if (d.lifecycle !== undefined) n.lifecycle = d.lifecycle;
      if (d.dispatch !== undefined) n.dispatch = d.dispatch;
      n.plan = freeze(d.steps.map((st) => st.name));
      const planned = d.steps.map((st): [string, StepRecord] => [
        st.name,
        freeze({ name: st.name, kind: st.kind, status: 'pending', attempts: 0 }),
      ]);
      n.steps = freeze({ ...s.steps, ...Object.fromEntries(planned) });
      return n;
    }
    case 'OperationClaimed':
    case 'OperationTakenOver': {
      const n = copyState(s);
      const { worker, lease, fence } = event.data;
      n.owner = freeze({ worker, lease, fence });
      return n;
    }
    case 'OperationStarted': {
      const n = copyState(s);
      n.status = 'running';
      n.startedAt = event.data.at;
      return n;
    }
    case 'StepStarted': {
      const n = copyState(s);
      const st = Object.hasOwn(s.steps, event.data.step) ? s.steps[event.data.step] : undefined;
      if (!st) return n;
      const step = copyStep(st);
      step.status = 'running';
      step.attempts = event.data.attempt;
      step.outcomeUnknown = true;
      if (event.data.provider !== undefined) step.provider = event.data.provider;
      n.steps = withStep(s.steps, step);
      n.inFlight = st.name;
      return n;
    }
    case 'StepSucceeded': {
      const st = Object.hasOwn(s.steps, event.data.step) ? s.steps[event.data.step] : undefined;
      if (!st) return copyState(s);
      const n = copyState(s, 'inFlight');
      const step = copyStep(st, 'outcomeUnknown');
      step.status = 'succeeded';
      step.output = deepFreeze(event.data.output);
      if (event.data.provider !== undefined) step.provider = event.data.provider;
      step.completedAs = n.completedCount++;
      n.steps = withStep(s.steps, step);
      return n;
    }
    case 'StepFailed': {
      const st = Object.hasOwn(s.steps, event.data.step) ? s.steps[event.data.step] : undefined;
      if (!st) return copyState(s);
      const n = copyState(s, 'inFlight');
      const step = copyStep(st, 'outcomeUnknown');
      // A step that threw is taken as not done: a run must not leave partial effects behind.
      step.status = event.data.willRetry || event.data.failoverTo ? 'pending' : 'failed';
      // Progress made with one provider says nothing about the next one's.
      if (event.data.failoverTo) delete step.heartbeat;
      else if (event.data.heartbeat !== undefined)
        step.heartbeat = deepFreeze(event.data.heartbeat);
      if (event.data.possiblyDone) {
        // It ran, but what it returned could not be recorded: undo it as if after a crash.
        step.outcomeUnknown = true;
        step.completedAs = n.completedCount++;
      }
      n.steps = withStep(s.steps, step);
      return n;
    }
    case 'CancellationRequested': {
      const n = copyState(s);
      n.cancelled = true;
      n.cancelledBy = event.data.user;
      return n;
    }
    case 'OperationFailed': {
      const d = event.data;
      const n = copyState(s);
      n.status = 'failed';
      n.failure = freeze({
        reason: d.reason,
        error: deepFreeze(d.error),
        rollbackRequired: d.rollbackRequired,
        ...(d.failedStep !== undefined ? { failedStep: d.failedStep } : {}),
      });
      // A step still in flight at this point is one whose outcome a crash made unknown.
      if (!d.rollbackRequired) n.finishedAt = d.at;
      return n;
    }
    case 'RollbackStarted': {
      const n = copyState(s, 'finishedAt');
      const r = copyRollback(s.rollback);
      r.status = 'in_progress';
      r.reason = event.data.reason;
      r.undoFailed = freeze({});
      r.reported = freeze([]);
      n.rollback = freeze(r);
      return n;
    }
    case 'StepUndoStarted': {
      const n = copyState(s);
      const r = copyRollback(s.rollback);
      r.undoInFlight = event.data.step;
      n.rollback = freeze(r);
      return n;
    }
    case 'StepUndone': {
      const n = copyState(s);
      const r = copyRollback(s.rollback, 'undoInFlight');
      r.undone = freeze([...r.undone, event.data.step]);
      n.rollback = freeze(r);
      return n;
    }
    case 'StepUndoFailed': {
      const n = copyState(s);
      const r = copyRollback(s.rollback, 'undoInFlight');
      const { step, willRetry, error } = event.data;
      if (!willRetry) r.undoFailed = freeze({ ...r.undoFailed, [step]: error.message });
      n.rollback = freeze(r);
      return n;
    }
    case 'StepNotUndoable': {
      const n = copyState(s);
      const r = copyRollback(s.rollback);
      const { step, reason } = event.data;
      r.reported = freeze([...r.reported, step]);
      if (reason === 'skipped' && !r.skipped.includes(step)) {
        r.skipped = freeze([...r.skipped, step]);
      }
      n.rollback = freeze(r);
      return n;
    }
    case 'RollbackFinished': {
      const n = copyState(s);
      const r = copyRollback(s.rollback);
      r.status = event.data.outcome;
      r.notUndone = deepFreeze(event.data.notUndone);
      n.rollback = freeze(r);
      n.finishedAt = event.data.at;
      return n;
    }
    case 'OperationSucceeded': {
      const n = copyState(s);
      n.status = 'succeeded';
      n.finishedAt = event.data.at;
      if (event.data.effects) n.effects = deepFreeze(event.data.effects);
      return n;
    }
    case 'LogWritten':
      return copyState(s);
  }
};

/**
 * Applies one event to an Operation's state.
 *
 * Pure: returns a new, deeply frozen state and never changes `state` (plain objects, no
 * proxies; the parts an event leaves alone are shared with `state`, which is why they must be
 * frozen too: a state that is not, such as `initialState()` or one read back from a read
 * store's JSON, is frozen in place first). Values taken from the event are frozen in place.
 *
 * @example
 * ```ts
 * import { evolve, initialState } from 'opledger/domain';
 *
 * const next = evolve(initialState(), requestedEvent); // status 'requested'
 * ```
 */
export const evolvePerEvent = (state: OperationState, event: OperationEvent): OperationState => {
  if (!Object.isFrozen(state)) for (const part of Object.values(state)) deepFreeze(part);
  const after = next(state, event);
  after.lastEventAt =
    event.type === 'OperationRequested'
      ? event.data.createdAt
      : (event.data.at ?? state.lastEventAt);
  return freeze(after);
};
