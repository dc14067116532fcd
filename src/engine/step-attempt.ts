import { toErrorInfo } from '../domain/error-info.js';
import { OpledgerError, StepTimeoutError, type StepTimeoutKind } from '../domain/errors.js';
import type { ErrorInfo } from '../domain/events.js';
import type { AttemptFailure, RunStep } from '../domain/next-action.js';
import type { Redactor } from '../domain/redaction.js';
import type { Step, StepLog } from '../domain/step.js';
import type { CancelWatch } from './cancel-watch.js';
import { startTimer, type Clock } from './clock.js';

export class InvalidStepOutputError extends OpledgerError {
  constructor(step: string, problem: string) {
    super(
      'INVALID_STEP_OUTPUT',
      `Step '${step}' returned an output that cannot be recorded (${problem}): return plain JSON data (objects, arrays, strings, finite numbers, booleans, null).`,
    );
  }
}

/** `ctx.heartbeat(details)` with details that could not be recorded. */
export class InvalidHeartbeatDetailsError extends OpledgerError {
  constructor(step: string, problem: string) {
    super(
      'INVALID_HEARTBEAT_DETAILS',
      `Step '${step}' gave heartbeat details that cannot be recorded (${problem}): give plain JSON data (objects, arrays, strings, finite numbers, booleans, null).`,
    );
  }
}

const jsonProblem = (value: unknown, path = 'output'): string | undefined => {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path} is ${value}`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = jsonProblem(value[i], `${path}[${i}]`);
      if (p) return p;
    }
    return undefined;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null)
      return `${path} is a ${proto?.constructor?.name ?? 'class instance'}`;
    for (const [k, v] of Object.entries(value)) {
      const p = v === undefined ? undefined : jsonProblem(v, `${path}.${k}`);
      if (p) return p;
    }
    return undefined;
  }
  return `${path} is a ${typeof value}`;
};

export type AttemptOutcome =
  | { kind: 'succeeded'; output: unknown; at: string }
  | {
      kind: 'failed';
      failure: AttemptFailure;
      error: ErrorInfo;
      at: string;
      /** The details of the attempt's last heartbeat, as the run gave them (not redacted). */
      heartbeat?: unknown;
    };

export interface AttemptContext {
  operationId: string;
  params: Record<string, unknown>;
  outputs: Readonly<Record<string, unknown>>;
  log: StepLog;
  watch: CancelWatch;
  redact: Redactor;
  now: () => string;
  /** The engine's clock: the step's timeouts run on it. */
  clock: Clock;
  /** What the last failed attempt's heartbeat recorded: the run's `ctx.heartbeatDetails`. */
  heartbeatDetails: unknown;
  fence: number;
}

/** The timeout that falls due first, given when the attempt started and last heartbeat. */
const nextDeadline = (
  step: Step,
  startedAt: number,
  lastBeatAt: number,
): { at: number; kind: StepTimeoutKind; ms: number } | undefined => {
  const total =
    step.timeoutMs === undefined
      ? undefined
      : { at: startedAt + step.timeoutMs, kind: 'start_to_close' as const, ms: step.timeoutMs };
  const beat =
    step.heartbeatTimeoutMs === undefined
      ? undefined
      : {
          at: lastBeatAt + step.heartbeatTimeoutMs,
          kind: 'heartbeat' as const,
          ms: step.heartbeatTimeoutMs,
        };
  if (!total || !beat) return total ?? beat;
  return beat.at < total.at ? beat : total;
};

/**
 * Performs one attempt of a step (already recorded as started): runs it, checks that its
 * output is JSON data, and says how it failed. `at` is taken when the run returned. The
 * output is returned as the step gave it; the error is redacted.
 *
 * A step with `timeoutMs` or `heartbeatTimeoutMs` runs against timers on the engine's clock.
 * When one fires, the run's signal is aborted with a `StepTimeoutError` and the attempt fails
 * at once: the engine stops waiting for a run that ignores its signal, and whatever that run
 * returns, throws or heartbeats later is ignored. Once a timer has fired the attempt never
 * succeeds, even if the run returned in the same turn.
 *
 * The outcome is returned as it is, not in a promise, when an untimed step's run returned (or
 * threw) without a promise: such an attempt has nothing to wait for, and the two async frames
 * and the turn it cost were a tenth of a five-step operation's allocations on the memory store.
 *
 * @example
 * ```ts
 * const attempted = attemptStep(action, ctx);
 * const outcome = attempted instanceof Promise ? await attempted : attempted;
 * ```
 */
export const attemptStep = (
  action: RunStep<Step>,
  ctx: AttemptContext,
): AttemptOutcome | Promise<AttemptOutcome> =>
  action.step.timeoutMs === undefined && action.step.heartbeatTimeoutMs === undefined
    ? attemptUntimed(action, ctx)
    : attemptTimed(action, ctx);

/** The context a run gets. */
const stepContext = (
  action: RunStep<Step>,
  ctx: AttemptContext,
  signal: AbortSignal,
  heartbeat: (value?: unknown) => void,
) => ({
  operationId: ctx.operationId,
  params: ctx.params,
  signal,
  log: ctx.log,
  attempt: action.attempt,
  provider: action.provider,
  outputs: ctx.outputs,
  heartbeat,
  heartbeatDetails: ctx.heartbeatDetails,
  fence: ctx.fence,
});

/**
 * What a run that returned `output`, or threw `thrown.error` (boxed: a run may throw
 * `undefined`, and that is a failure too), comes to.
 */
const outcomeOf = (
  step: Step,
  ctx: AttemptContext,
  output: unknown,
  thrown: { error: unknown } | undefined,
  signal: AbortSignal,
  timedOut: StepTimeoutError | undefined,
  details: { value: unknown } | undefined,
): AttemptOutcome => {
  let failure = thrown;
  if (!failure) {
    try {
      const problem = output === undefined ? undefined : jsonProblem(output);
      if (problem) failure = { error: new InvalidStepOutputError(step.name, problem) };
    } catch (error) {
      // Reading the output threw (a getter, a proxy, a cycle too deep): the step failed.
      failure = { error };
    }
  }
  const at = ctx.now();
  // A cancel that aborted the signal before the timeout fired is what stopped the step.
  const cancelledFirst = signal.aborted && signal.reason !== timedOut;
  if (timedOut && !cancelledFirst) failure = { error: timedOut };
  if (!failure) return { kind: 'succeeded', output, at };
  const error = ctx.redact.error(toErrorInfo(failure.error));
  const kind: AttemptFailure = cancelledFirst
    ? 'cancelled'
    : failure.error instanceof InvalidStepOutputError
      ? 'invalid_output'
      : 'error';
  return {
    kind: 'failed',
    failure: kind,
    error,
    at,
    ...(details !== undefined ? { heartbeat: details.value } : {}),
  };
};

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  value !== null &&
  (typeof value === 'object' || typeof value === 'function') &&
  typeof (value as { then?: unknown }).then === 'function';

/** A step without timers: no controller of its own, no clock read. */
const attemptUntimed = (
  action: RunStep<Step>,
  ctx: AttemptContext,
): AttemptOutcome | Promise<AttemptOutcome> => {
  const { step } = action;
  const signal = ctx.watch.enterStep(step.interruptible);
  let ended = false;
  let details: { value: unknown } | undefined;
  const heartbeat = (value?: unknown): void => {
    if (ended || value === undefined) return;
    const problem = jsonProblem(value, 'details');
    if (problem) throw new InvalidHeartbeatDetailsError(step.name, problem);
    // A copy: the run may go on changing its object after this heartbeat.
    details = { value: structuredClone(value) };
  };
  const end = (output: unknown, thrown: { error: unknown } | undefined): AttemptOutcome => {
    ended = true;
    ctx.watch.leaveStep();
    return outcomeOf(step, ctx, output, thrown, signal, undefined, details);
  };
  let returned: unknown;
  let thenable: boolean;
  try {
    returned = step.run(stepContext(action, ctx, signal, heartbeat));
    // Inside the try: reading `then` may throw (a getter), and that fails the step too.
    thenable = isThenable(returned);
  } catch (error) {
    return end(undefined, { error });
  }
  if (!thenable) return end(returned, undefined);
  return Promise.resolve(returned).then(
    (output) => end(output, undefined),
    (error: unknown) => end(undefined, { error }),
  );
};

/** A step with `timeoutMs` or `heartbeatTimeoutMs`: its run is raced against their timers. */
const attemptTimed = async (
  action: RunStep<Step>,
  ctx: AttemptContext,
): Promise<AttemptOutcome> => {
  const { step } = action;
  const { clock } = ctx;
  const cancelSignal = ctx.watch.enterStep(step.interruptible);

  // A timed step gets a signal of its own, aborted by a cancel (as the watch's is) or by its
  // timeout. A non-interruptible step's is aborted by its timeout only.
  const controller = new AbortController();
  const forwardCancel = () => controller.abort(cancelSignal.reason);
  if (cancelSignal.aborted) forwardCancel();
  else cancelSignal.addEventListener('abort', forwardCancel, { once: true });
  const signal = controller.signal;

  let ended = false;
  let details: { value: unknown } | undefined;
  const startedAt = clock.now().getTime();
  let lastBeatAt = startedAt;
  const heartbeat = (value?: unknown): void => {
    if (ended) return; // a run past its timeout: what it says no longer counts
    if (value !== undefined) {
      const problem = jsonProblem(value, 'details');
      if (problem) throw new InvalidHeartbeatDetailsError(step.name, problem);
      // A copy: the run may go on changing its object after this heartbeat.
      details = { value: structuredClone(value) };
    }
    lastBeatAt = clock.now().getTime();
  };

  let timedOut: StepTimeoutError | undefined;
  let rejectTimeout: (error: StepTimeoutError) => void = () => undefined;
  const timeout = new Promise<never>((_, reject) => {
    rejectTimeout = reject;
  });
  let cancelTimer = (): void => undefined;
  // One timer at a time, for the deadline due first; a heartbeat only notes the time, and a
  // timer that finds the deadline moved rearms itself: heartbeats cost no timer.
  const arm = (): void => {
    const deadline = nextDeadline(step, startedAt, lastBeatAt);
    if (!deadline || ended) return;
    const left = deadline.at - clock.now().getTime();
    if (left > 0) {
      cancelTimer = startTimer(clock, left, arm);
      return;
    }
    // Ended now, not when this function resumes: a heartbeat in between comes too late.
    ended = true;
    timedOut = new StepTimeoutError(step.name, deadline.kind, deadline.ms);
    controller.abort(timedOut);
    rejectTimeout(timedOut);
  };
  arm();

  let output: unknown;
  let failure: { error: unknown } | undefined;
  try {
    const running = (async () => step.run(stepContext(action, ctx, signal, heartbeat)))();
    // A run abandoned at its timeout may still reject later: that is not unhandled.
    running.catch(() => undefined);
    output = await Promise.race([running, timeout]);
  } catch (error) {
    failure = { error };
  } finally {
    ended = true;
    cancelTimer();
    cancelSignal.removeEventListener('abort', forwardCancel);
    ctx.watch.leaveStep();
  }
  return outcomeOf(step, ctx, output, failure, signal, timedOut, details);
};
