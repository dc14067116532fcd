import { toErrorInfo } from '../domain/error-info.js';
import { OpledgerError } from '../domain/errors.js';
import type { ErrorInfo } from '../domain/events.js';
import type { AttemptFailure, RunStep } from '../domain/next-action.js';
import type { Redactor } from '../domain/redaction.js';
import type { Step, StepLog } from '../domain/step.js';
import type { CancelWatch } from './cancel-watch.js';

export class InvalidStepOutputError extends OpledgerError {
  constructor(step: string, problem: string) {
    super(
      'INVALID_STEP_OUTPUT',
      `Step '${step}' returned an output that cannot be recorded (${problem}): return plain JSON data (objects, arrays, strings, finite numbers, booleans, null).`,
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
  | { kind: 'failed'; failure: AttemptFailure; error: ErrorInfo; at: string };

export interface AttemptContext {
  operationId: string;
  params: Record<string, unknown>;
  outputs: Readonly<Record<string, unknown>>;
  log: StepLog;
  watch: CancelWatch;
  redact: Redactor;
  now: () => string;
  fence: number;
}

/**
 * Performs one attempt of a step (already recorded as started): runs it, checks that its
 * output is JSON data, and says how it failed. `at` is taken when the run returned. The
 * output is returned as the step gave it; the error is redacted.
 */
export const attemptStep = async (
  action: RunStep<Step>,
  ctx: AttemptContext,
): Promise<AttemptOutcome> => {
  const { step, attempt, provider } = action;
  const signal = ctx.watch.enterStep(step.interruptible);
  let output: unknown;
  let failure: unknown;
  try {
    output = await step.run({
      operationId: ctx.operationId,
      params: ctx.params,
      signal,
      log: ctx.log,
      attempt,
      provider,
      outputs: ctx.outputs,
      fence: ctx.fence,
    });
    const problem = output === undefined ? undefined : jsonProblem(output);
    if (problem) failure = new InvalidStepOutputError(step.name, problem);
  } catch (error) {
    failure = error;
  } finally {
    ctx.watch.leaveStep();
  }
  const at = ctx.now();
  if (failure === undefined) return { kind: 'succeeded', output, at };
  const error = ctx.redact.error(toErrorInfo(failure));
  const kind: AttemptFailure = signal.aborted
    ? 'cancelled'
    : failure instanceof InvalidStepOutputError
      ? 'invalid_output'
      : 'error';
  return { kind: 'failed', failure: kind, error, at };
};
