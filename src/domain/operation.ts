import { deepFreeze } from './deep-freeze.js';
import { ownValue, setOwnValue } from './own-keys.js';
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
  /**
   * The last heartbeat details a failed attempt of this step recorded with its current
   * provider: what the next attempt gets as `ctx.heartbeatDetails`.
   */
  heartbeat?: unknown;
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
  /** 'worker' when a client wrote it for workers to claim (see OperationRequested). */
  dispatch?: 'worker';
  /**
   * The worker that owns it, and its fencing count: 1 at the first claim, one more at every
   * takeover. Only appends made under the current count are accepted by the engine's writer.
   */
  owner?: { worker: string; lease: string; fence: number };
  /** What the operation did to its resource, recorded when it succeeded. */
  effects?: { lifecycle?: 'provision' | 'deprovision'; release?: string };
}

/**
 * The state of an Operation before its first event: what `evolve` starts from.
 *
 * @example
 * ```ts
 * import { evolve, initialState } from 'opledger/domain';
 *
 * const state = events.reduce(evolve, initialState());
 * ```
 */
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

/** initialState(), frozen: what a fold from nothing starts from, sharing its parts. */
const INITIAL: OperationState = deepFreeze(initialState());

/**
 * An Operation has ended when it reached a terminal status and no rollback is still owed.
 * A failed Operation whose rollback failed has ended too: `continueRollback` may reopen it.
 *
 * @example
 * ```ts
 * import { foldOperation, hasEnded } from 'opledger/domain';
 *
 * if (hasEnded(foldOperation(events))) console.log('nothing left to run or undo');
 * ```
 */
export const hasEnded = (state: OperationState): boolean => {
  if (state.status === 'succeeded') return true;
  if (state.status !== 'failed') return false;
  if (!state.failure?.rollbackRequired) return true;
  return state.rollback.status === 'succeeded' || state.rollback.status === 'failed';
};

// Object.freeze without turning the state's declared types readonly.
const freeze = <T>(value: T): T => Object.freeze(value);

/**
 * One entry for each optional field of `T`, required here. The copies below copy every optional
 * field in its own entry of a literal of this type, so a copy that leaves one out (a field added
 * to the state and not to its copy) fails the build (TS2741) instead of losing the field at run
 * time. The required fields need no help: the copy is a literal of the state's type.
 */
export type EachOptionalField<T> = Record<OptionalKeys<T>, void>;

type OptionalKeys<T> = {
  [K in keyof T]-?: Partial<Pick<T, K>> extends Pick<T, K> ? K : never;
}[keyof T];

// The copies name every field instead of spreading: V8 copies a spread of a frozen object field
// by field through its slow path (about 8x slower than an unfrozen one), and every state is
// frozen. An optional field is copied only when set (not undefined), so that the copy has the
// same own keys as the original and leaves out a field a draft cleared; each entry of `_copied`
// is that `if` as an expression, and keeps no value (`void`), so V8 does not even build the
// literal.

const copyState = (s: OperationState): OperationState => {
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
    finishedAt: void (s.finishedAt !== undefined && (c.finishedAt = s.finishedAt)),
    cancelledBy: void (s.cancelledBy !== undefined && (c.cancelledBy = s.cancelledBy)),
    inFlight: void (s.inFlight !== undefined && (c.inFlight = s.inFlight)),
    failure: void (s.failure !== undefined && (c.failure = s.failure)),
    lastEventAt: void (s.lastEventAt !== undefined && (c.lastEventAt = s.lastEventAt)),
    effects: void (s.effects !== undefined && (c.effects = s.effects)),
    dispatch: void (s.dispatch !== undefined && (c.dispatch = s.dispatch)),
    owner: void (s.owner !== undefined && (c.owner = s.owner)),
  };
  return c;
};

const copyStep = (s: StepRecord): StepRecord => {
  const c: StepRecord = { name: s.name, kind: s.kind, status: s.status, attempts: s.attempts };
  const _copied: EachOptionalField<StepRecord> = {
    provider: void (s.provider !== undefined && (c.provider = s.provider)),
    // Kept even when undefined, as a step that succeeded without output records it.
    output: void ('output' in s && (c.output = s.output)),
    completedAs: void (s.completedAs !== undefined && (c.completedAs = s.completedAs)),
    outcomeUnknown: void (s.outcomeUnknown !== undefined && (c.outcomeUnknown = s.outcomeUnknown)),
    heartbeat: void (s.heartbeat !== undefined && (c.heartbeat = s.heartbeat)),
  };
  return c;
};

type Rollback = OperationState['rollback'];

const copyRollback = (r: Rollback): Rollback => {
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
    undoInFlight: void (r.undoInFlight !== undefined && (c.undoInFlight = r.undoInFlight)),
  };
  return c;
};

type Steps = OperationState['steps'];

/**
 * The planned step of that name, or undefined: an own key only, so an event naming a step no
 * request planned (`toString`, `__proto__`) is ignored instead of reading the prototype, and a
 * step a user named `constructor` is not found before it is planned. Every reader of
 * `state.steps` by a name goes through it.
 */
export const plannedStep = (steps: Steps, name: string): StepRecord | undefined =>
  ownValue(steps, name);

// A draft is an OperationState whose top object belongs to the fold, which changes it in place.
// A part of it (the steps, a step, the rollback) belongs to the draft when it is not frozen, and
// is changed in place too; a frozen part is shared with a state already handed out (or given to
// the fold) and is copied before it is changed. Handing a state out (`seal` below) freezes every
// part the draft changed, so the draft then copies them again before the next change: a state
// handed out never changes. An optional field an event clears is set to undefined in the draft
// and left out of the state handed out, which has the same own keys as the per-event fold's.

/** What a draft changed since it last handed a state out, so that sealing it looks at no more. */
interface Changes {
  /** The steps it made its own (planned, or copied to change them). */
  steps: string[];
  /** It set `inFlight` or `finishedAt` to undefined: its top object must be copied. */
  cleared: boolean;
  /** It set a field of one of its steps to undefined: they must be copied. */
  clearedStep: boolean;
  /** Its steps object and its rollback are its own (copied, or new), not shared. */
  ownsSteps: boolean;
  ownsRollback: boolean;
}

const noChanges = (): Changes => ({
  steps: [],
  cleared: false,
  clearedStep: false,
  ownsSteps: false,
  ownsRollback: false,
});

/** Clears an optional field of the draft's top object (a delete would slow the object down). */
const clear = (d: OperationState, key: 'inFlight' | 'finishedAt', changed: Changes): void => {
  d[key] = undefined;
  changed.cleared = true;
};

// Whether a part is the draft's own is kept in `Changes` rather than asked of Object.isFrozen,
// which costs more than the rest of a one-event fold.
const ownSteps = (d: OperationState, changed: Changes): Steps => {
  if (!changed.ownsSteps) {
    d.steps = { ...d.steps };
    changed.ownsSteps = true;
  }
  return d.steps;
};

/**
 * The draft's own copy of `st`, found under `name`. Only an own, unfrozen entry of the draft's
 * own steps is the draft's; anything else (a shared step, or what a lookup of a name such as
 * `toString` finds on the prototype) is copied, and the copy stored under its own name.
 */
const ownStep = (d: OperationState, name: string, st: StepRecord, changed: Changes): StepRecord => {
  const steps = ownSteps(d, changed);
  if (!Object.isFrozen(st) && Object.hasOwn(steps, name)) return st;
  const step = copyStep(st);
  setOwnValue(steps, step.name, step);
  changed.steps.push(step.name);
  return step;
};

const ownRollback = (d: OperationState, changed: Changes): Rollback => {
  if (!changed.ownsRollback) {
    d.rollback = copyRollback(d.rollback);
    changed.ownsRollback = true;
  }
  return d.rollback;
};

/**
 * What a step's success and its failure both begin with: the planned step of that name (none:
 * an event naming a step no request planned changes nothing), no longer in flight, made the
 * draft's own, its outcome known again.
 */
const endStep = (d: OperationState, name: string, changed: Changes): StepRecord | undefined => {
  const st = plannedStep(d.steps, name);
  if (!st) return undefined;
  if (d.inFlight !== undefined) clear(d, 'inFlight', changed);
  const step = ownStep(d, name, st, changed);
  if (step.outcomeUnknown !== undefined) {
    step.outcomeUnknown = undefined;
    changed.clearedStep = true;
  }
  return step;
};

/**
 * Applies `event` to the draft `d` in place. Every object it makes is frozen when the state is
 * handed out, and values taken from the event (params, outputs, errors) are frozen deeply here,
 * so a state handed out is frozen all the way down.
 */
const apply = (d: OperationState, event: OperationEvent, changed: Changes): void => {
  switch (event.type) {
    case 'OperationRequested': {
      const e = event.data;
      d.status = 'queued';
      d.id = e.operationId;
      d.type = e.type;
      d.environment = e.environment;
      d.resource = deepFreeze(e.resource);
      d.user = e.user;
      d.params = deepFreeze(e.params);
      d.createdAt = e.createdAt;
      if (e.idempotencyKey !== undefined) d.idempotencyKey = e.idempotencyKey;
      if (e.lifecycle !== undefined) d.lifecycle = e.lifecycle;
      if (e.dispatch !== undefined) d.dispatch = e.dispatch;
      d.plan = freeze(e.steps.map((st) => st.name));
      // Not frozen yet: the draft's own, until a state is handed out.
      const planned = e.steps.map((st): [string, StepRecord] => {
        changed.steps.push(st.name);
        return [st.name, { name: st.name, kind: st.kind, status: 'pending', attempts: 0 }];
      });
      // A spread, not assignments, so that any step name (even '__proto__') is an own key.
      d.steps = { ...d.steps, ...Object.fromEntries(planned) };
      changed.ownsSteps = true;
      break;
    }
    case 'OperationClaimed':
    case 'OperationTakenOver': {
      const { worker, lease, fence } = event.data;
      d.owner = freeze({ worker, lease, fence });
      break;
    }
    case 'OperationStarted':
      d.status = 'running';
      d.startedAt = event.data.at;
      break;
    case 'StepStarted': {
      const st = plannedStep(d.steps, event.data.step);
      if (!st) break;
      const step = ownStep(d, event.data.step, st, changed);
      step.status = 'running';
      step.attempts = event.data.attempt;
      step.outcomeUnknown = true;
      if (event.data.provider !== undefined) step.provider = event.data.provider;
      d.inFlight = step.name;
      break;
    }
    case 'StepSucceeded': {
      const step = endStep(d, event.data.step, changed);
      if (!step) break;
      step.status = 'succeeded';
      step.output = deepFreeze(event.data.output);
      if (event.data.provider !== undefined) step.provider = event.data.provider;
      step.completedAs = d.completedCount++;
      break;
    }
    case 'StepFailed': {
      const step = endStep(d, event.data.step, changed);
      if (!step) break;
      // A step that threw is taken as not done: a run must not leave partial effects behind.
      step.status = event.data.willRetry || event.data.failoverTo ? 'pending' : 'failed';
      // Progress made with one provider says nothing about the next one's.
      if (event.data.failoverTo) {
        if (step.heartbeat !== undefined) {
          step.heartbeat = undefined;
          changed.clearedStep = true;
        }
      } else if (event.data.heartbeat !== undefined)
        step.heartbeat = deepFreeze(event.data.heartbeat);
      if (event.data.possiblyDone) {
        // It ran, but what it returned could not be recorded: undo it as if after a crash.
        step.outcomeUnknown = true;
        step.completedAs = d.completedCount++;
      }
      break;
    }
    case 'CancellationRequested':
      d.cancelled = true;
      d.cancelledBy = event.data.user;
      break;
    case 'OperationFailed': {
      const e = event.data;
      d.status = 'failed';
      d.failure = freeze({
        reason: e.reason,
        error: deepFreeze(e.error),
        rollbackRequired: e.rollbackRequired,
        ...(e.failedStep !== undefined ? { failedStep: e.failedStep } : {}),
      });
      // A step still in flight at this point is one whose outcome a crash made unknown.
      if (!e.rollbackRequired) d.finishedAt = e.at;
      break;
    }
    case 'RollbackStarted': {
      if (d.finishedAt !== undefined) clear(d, 'finishedAt', changed);
      const r = ownRollback(d, changed);
      r.status = 'in_progress';
      r.reason = event.data.reason;
      r.undoFailed = freeze({});
      r.reported = freeze([]);
      break;
    }
    case 'StepUndoStarted':
      ownRollback(d, changed).undoInFlight = event.data.step;
      break;
    case 'StepUndone': {
      const r = ownRollback(d, changed);
      if (r.undoInFlight !== undefined) r.undoInFlight = undefined;
      r.undone = freeze([...r.undone, event.data.step]);
      break;
    }
    case 'StepUndoFailed': {
      const r = ownRollback(d, changed);
      if (r.undoInFlight !== undefined) r.undoInFlight = undefined;
      const { step, willRetry, error } = event.data;
      if (!willRetry) r.undoFailed = freeze({ ...r.undoFailed, [step]: error.message });
      break;
    }
    case 'StepNotUndoable': {
      const r = ownRollback(d, changed);
      const { step, reason } = event.data;
      r.reported = freeze([...r.reported, step]);
      if (reason === 'skipped' && !r.skipped.includes(step)) {
        r.skipped = freeze([...r.skipped, step]);
      }
      break;
    }
    case 'RollbackFinished': {
      const r = ownRollback(d, changed);
      r.status = event.data.outcome;
      r.notUndone = deepFreeze(event.data.notUndone);
      d.finishedAt = event.data.at;
      break;
    }
    case 'OperationSucceeded':
      d.status = 'succeeded';
      d.finishedAt = event.data.at;
      if (event.data.effects) d.effects = deepFreeze(event.data.effects);
      break;
    case 'LogWritten':
      break;
  }
  d.lastEventAt =
    event.type === 'OperationRequested' ? event.data.createdAt : (event.data.at ?? d.lastEventAt);
};

/**
 * Freezes every part of the draft it changed since it last handed a state out (its top object
 * excepted), as copies that leave out the optional fields it cleared (set to undefined). The
 * draft shares them from then on and copies them before changing them again.
 */
const sealParts = (d: OperationState, changed: Changes): void => {
  if (changed.ownsSteps) {
    const steps = d.steps;
    // Only the steps this draft made can be its own: the others are shared, frozen.
    for (const name of changed.steps) {
      const st = plannedStep(steps, name);
      if (!st || Object.isFrozen(st)) continue;
      // Its output and heartbeat were frozen deeply when they were taken from their events.
      setOwnValue(steps, name, freeze(changed.clearedStep ? copyStep(st) : st));
    }
    freeze(steps);
  }
  if (changed.steps.length > 0) changed.steps.length = 0;
  if (changed.ownsRollback) d.rollback = freeze(copyRollback(d.rollback));
  changed.cleared = false;
  changed.clearedStep = false;
  changed.ownsSteps = false;
  changed.ownsRollback = false;
};

/** Freezes in place the parts of a state that is not frozen, so that a draft may share them. */
const freezeParts = (state: OperationState): void => {
  if (!Object.isFrozen(state)) for (const part of Object.values(state)) deepFreeze(part);
};

// evolve runs to its end without yielding, so one bookkeeping object serves every call.
const evolveChanges = noChanges();

/**
 * Applies one event to an Operation's state.
 *
 * Pure: returns a new, deeply frozen state and never changes `state` (plain objects, no
 * proxies; the parts an event leaves alone are shared with `state`, which is why they must be
 * frozen too: a state that is not, such as `initialState()` or one read back from a read
 * store's JSON, is frozen in place first). Values taken from the event are frozen in place.
 * To fold many events, `createOperationFold` does the same work once for all of them.
 *
 * @example
 * ```ts
 * import { evolve, initialState } from 'opledger/domain';
 *
 * const next = evolve(initialState(), requestedEvent); // status 'requested'
 * ```
 */
export const evolve = (state: OperationState, event: OperationEvent): OperationState => {
  freezeParts(state);
  const d = copyState(state);
  const changed = evolveChanges;
  // Cleared first: a call that threw (an event without its data) may have left it dirty.
  Object.assign(changed, noChanges());
  apply(d, event, changed);
  const cleared = changed.cleared;
  sealParts(d, changed);
  return freeze(cleared ? copyState(d) : d);
};

/** One Operation's events folded one at a time, with its state read only now and then. */
export interface OperationFold {
  /**
   * Applies `event` to the fold's own draft of the state (nothing handed out changes). If it
   * throws (an event that is not one, without its data), drop the fold.
   */
  apply(event: OperationEvent): void;
  /**
   * The state after every event applied so far: deeply frozen, equal to what `evolve` one
   * event at a time gives, and the same object until the next `apply`.
   */
  state(): OperationState;
  /**
   * The draft itself, to read a field or two between events without handing a state out; it
   * changes with the next `apply` (read-only, not frozen): keep `state()`, not this.
   */
  readonly current: Readonly<OperationState>;
}

/**
 * A fold over one Operation's events that changes a private draft and freezes once, when a
 * state is handed out, instead of building a new frozen state per event as `evolve` does (the
 * largest share of a rebuild's time). `state()` equals `evolve` applied event by event, and is
 * as frozen; the draft itself never leaves the fold, so a fold over a list of events is still a
 * pure function of them.
 *
 * @example
 * ```ts
 * import { createOperationFold } from 'opledger/domain';
 *
 * const fold = createOperationFold(); // or createOperationFold(stateReadBack)
 * for (const event of events) fold.apply(event);
 * const state = fold.state(); // deeply frozen
 * ```
 */
export const createOperationFold = (from?: OperationState): OperationFold => {
  let d: OperationState;
  if (from) {
    freezeParts(from);
    d = copyState(from);
  } else d = copyState(INITIAL);
  const changed = noChanges();
  let handedOut: OperationState | undefined;
  return {
    apply(event) {
      handedOut = undefined;
      apply(d, event, changed);
    },
    state() {
      if (handedOut) return handedOut;
      sealParts(d, changed);
      handedOut = freeze(copyState(d));
      return handedOut;
    },
    // A data property, not a getter: the draft is never replaced, and a getter in an object
    // literal is a new accessor per fold, which kept reads of `current` off the fast path
    // (bench/NOTES.md, "Rebuild, round 6").
    current: d,
  };
};

/** Outputs of the steps that succeeded, by step name: what later steps and effects read. */
export const stepOutputs = (state: OperationState): Record<string, unknown> => {
  // A loop, not values/filter/map/fromEntries: it runs before every step, and those four
  // arrays were most of what it allocated.
  const outputs: Record<string, unknown> = {};
  const steps = state.steps;
  for (const name in steps) {
    const step = ownValue(steps, name);
    if (step?.status === 'succeeded') setOwnValue(outputs, step.name, step.output);
  }
  return outputs;
};

/**
 * The state of an Operation folded from its events, oldest first (`evolve` from `initialState`),
 * or from `from` when given (the events that came after it). One frozen state is built at the
 * end, not one per event.
 *
 * @example
 * ```ts
 * import { foldOperation } from 'opledger/domain';
 *
 * const state = foldOperation(events);
 * const later = foldOperation(newerEvents, state);
 * console.log(state.status, later.status);
 * ```
 */
export const foldOperation = (
  events: Iterable<OperationEvent>,
  from?: OperationState,
): OperationState => {
  const fold = createOperationFold(from);
  for (const event of events) fold.apply(event);
  return fold.state();
};
