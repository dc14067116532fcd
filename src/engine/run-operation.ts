import { filter } from 'rxjs';
import { OperationCancelledError, OpledgerError } from '../domain/errors.js';
import type { EventStore } from '../domain/event-store.js';
import { toErrorInfo } from '../domain/error-info.js';
import type { ErrorInfo, FailureReason } from '../domain/events.js';
import type { OperationDefinition } from '../domain/operation-definition.js';
import { hasEnded, stepOutputs, type OperationState } from '../domain/operation.js';
import { createRedactor, type Redactor } from '../domain/redaction.js';
import { operationStreamName, resourceStreamName } from '../domain/stream-names.js';
import { isRetryable, retryDelayMs } from '../domain/retry-policy.js';
import { needsRollback, pendingRollback } from '../domain/rollback-plan.js';
import type { Step, StepLog } from '../domain/step.js';
import type { Clock } from './clock.js';
import type { Decode, OperationWriter } from './operation-stream.js';
import { acquireResource, releaseResource } from './resource-queue-stream.js';

export interface RunnerDeps {
  store: EventStore;
  decode: Decode;
  clock: Clock;
}

export interface RunInput {
  writer: OperationWriter;
  /** Undefined when the store holds an operation type this engine does not know (recovery). */
  definition: OperationDefinition | undefined;
  /** Validated params with their secrets; after a crash only the redacted ones are left. */
  params: Record<string, unknown>;
  /** 'recover': the process that ran it is gone, so whatever was running is rolled back. */
  mode: 'fresh' | 'recover';
}

type ForwardOutcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; reason: FailureReason; step?: string; error: ErrorInfo };

class InvalidStepOutputError extends OpledgerError {
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

const NEVER_ABORTED = new AbortController().signal;

const recoveryError = (inFlight: string | undefined): ErrorInfo => ({
  name: 'InterruptedOperation',
  message: inFlight
    ? `the process running this operation stopped while step '${inFlight}' was running, so its outcome is unknown; recovered by rolling back`
    : 'the process running this operation stopped before it ended; recovered by rolling back',
  causes: [],
});

/**
 * Runs an Operation from wherever its events say it is to its end: waits for its resource,
 * runs its steps, and on failure or cancellation rolls back what the events say was done.
 */
export const driveOperation = async (
  deps: RunnerDeps,
  input: RunInput,
): Promise<OperationState> => {
  const { store, decode, clock } = deps;
  const { writer, definition, mode } = input;
  const now = () => clock.now().toISOString();
  const initial = writer.state();
  const resourceStream = resourceStreamName(initial.environment, initial.resource);
  const redact: Redactor = createRedactor(definition?.sensitive ?? [], input.params);

  const logger =
    (step: string | undefined): StepLog =>
    (message, level = 'info') =>
      writer.enqueue({
        type: 'WriteLog',
        data: {
          level,
          message: redact.text(String(message)),
          at: now(),
          ...(step ? { step } : {}),
        },
      });

  // Cancels may come from any process: watch the operation's stream rather than a local flag.
  const controller = new AbortController();
  let interruptible = true;
  let cancelRequested = initial.cancelled;
  const cancelWatch = store
    .subscribe({ after: writer.lastPosition() })
    .pipe(
      filter(
        (r) =>
          r.streamName === operationStreamName(writer.id) && r.type === 'CancellationRequested',
      ),
    )
    .subscribe({
      next: () => {
        cancelRequested = true;
        if (interruptible) controller.abort(new OperationCancelledError(writer.id));
      },
      error: () => undefined,
    });

  const fail = async (outcome: Extract<ForwardOutcome, { kind: 'failed' }>) => {
    await writer.execute({
      type: 'FailOperation',
      reason: outcome.reason,
      error: outcome.error,
      rollbackRequired: writer.state().status === 'running' && needsRollback(writer.state()),
      at: now(),
      ...(outcome.step ? { failedStep: outcome.step } : {}),
    });
  };

  const runStep = async (step: Step): Promise<ForwardOutcome | undefined> => {
    const providers: (string | undefined)[] = step.alternatives
      ? [...step.alternatives]
      : [undefined];
    // A cancel seen before the step started names no step: the step never ran.
    const cancelled = (started = true): ForwardOutcome => ({
      kind: 'failed',
      reason: 'cancellation',
      ...(started ? { step: step.name } : {}),
      error: toErrorInfo(new OperationCancelledError(writer.id)),
    });
    for (let p = 0; p < providers.length; p++) {
      const provider = providers[p];
      for (let attempt = 1; attempt <= step.retry.maxAttempts; attempt++) {
        if (cancelRequested) return cancelled(attempt > 1 || p > 0);
        try {
          await writer.execute({
            type: 'StartStep',
            step: step.name,
            attempt,
            at: now(),
            ...(provider !== undefined ? { provider } : {}),
          });
        } catch (error) {
          if (error instanceof OperationCancelledError) return cancelled(attempt > 1 || p > 0);
          throw error;
        }
        interruptible = step.interruptible;
        const signal = step.interruptible ? controller.signal : NEVER_ABORTED;
        const outputs = stepOutputs(writer.state());
        let output: unknown;
        let failure: unknown;
        try {
          output = await step.run({
            operationId: writer.id,
            params: input.params,
            signal,
            log: logger(step.name),
            attempt,
            provider,
            outputs,
          });
          const problem = output === undefined ? undefined : jsonProblem(output);
          if (problem) failure = new InvalidStepOutputError(step.name, problem);
        } catch (error) {
          failure = error;
        } finally {
          interruptible = true;
        }
        const base = {
          step: step.name,
          attempt,
          at: now(),
          ...(provider !== undefined ? { provider } : {}),
        };
        if (failure === undefined) {
          await writer.execute({
            type: 'CompleteStep',
            data: { ...base, ...(output !== undefined ? { output: redact.value(output) } : {}) },
          });
          return undefined;
        }
        const error = redact.error(toErrorInfo(failure));
        if (signal.aborted) {
          await writer.execute({
            type: 'FailStep',
            data: { ...base, error, willRetry: false, cancelled: true },
          });
          return cancelled();
        }
        if (failure instanceof InvalidStepOutputError) {
          // The run happened: its changes are out there even though its output is not.
          await writer.execute({
            type: 'FailStep',
            data: { ...base, error, willRetry: false, possiblyDone: true },
          });
          return { kind: 'failed', reason: 'failure', step: step.name, error };
        }
        const retry = attempt < step.retry.maxAttempts && isRetryable(step.retry, error);
        const failoverTo = providers[p + 1];
        if (retry) {
          const delay = retryDelayMs(step.retry, attempt);
          await writer.execute({
            type: 'FailStep',
            data: { ...base, error, willRetry: true, retryInMs: delay },
          });
          try {
            await clock.sleep(delay, controller.signal);
          } catch {
            return cancelled();
          }
          continue;
        }
        await writer.execute({
          type: 'FailStep',
          data: { ...base, error, willRetry: false, ...(failoverTo ? { failoverTo } : {}) },
        });
        if (failoverTo === undefined)
          return { kind: 'failed', reason: 'failure', step: step.name, error };
        break;
      }
    }
    return undefined;
  };

  const runForward = async (def: OperationDefinition): Promise<ForwardOutcome> => {
    for (const step of def.steps) {
      const planned = writer.state().steps[step.name];
      // Steps left out of the plan (their `when` said no) and steps already done are skipped.
      if (!planned || planned.status === 'succeeded') continue;
      const outcome = await runStep(step);
      if (outcome) return outcome;
    }
    let release: string | undefined;
    try {
      release = def.release?.({ params: input.params, outputs: stepOutputs(writer.state()) });
    } catch (error) {
      // A bug in the definition's release function fails the operation like a step would.
      return { kind: 'failed', reason: 'failure', error: redact.error(toErrorInfo(error)) };
    }
    try {
      const effects = {
        ...(def.lifecycle ? { lifecycle: def.lifecycle } : {}),
        ...(release ? { release } : {}),
      };
      await writer.execute({
        type: 'SucceedOperation',
        at: now(),
        ...(Object.keys(effects).length ? { effects } : {}),
      });
      return { kind: 'succeeded' };
    } catch (error) {
      if (!(error instanceof OperationCancelledError)) throw error;
      return {
        kind: 'failed',
        reason: 'cancellation',
        error: toErrorInfo(new OperationCancelledError(writer.id)),
      };
    }
  };

  const runRollback = async () => {
    for (;;) {
      const next = pendingRollback(writer.state())[0];
      if (!next) break;
      if (next.kind === 'irreversible') {
        await writer.execute({ type: 'ReportNotUndoable', step: next.step, at: now() });
        continue;
      }
      const step = definition?.steps.find((s) => s.name === next.step);
      if (!step?.undo) {
        await writer.execute({ type: 'StartUndo', step: next.step, attempt: 1, at: now() });
        await writer.execute({
          type: 'FailUndo',
          data: {
            step: next.step,
            attempt: 1,
            willRetry: false,
            at: now(),
            error: {
              name: 'MissingUndo',
              message: `this engine has no undo for step '${next.step}' of operation type '${writer.state().type}'; register the definition and call continueRollback`,
              causes: [],
            },
          },
        });
        continue;
      }
      const undo = step.undo;
      for (let attempt = 1; attempt <= step.undoRetry.maxAttempts; attempt++) {
        await writer.execute({ type: 'StartUndo', step: step.name, attempt, at: now() });
        try {
          await undo({
            operationId: writer.id,
            params: input.params,
            outcome: next.outcome,
            output: next.output,
            outputs: stepOutputs(writer.state()),
            provider: next.provider,
            log: logger(step.name),
            attempt,
            signal: NEVER_ABORTED,
          });
          await writer.execute({ type: 'CompleteUndo', step: step.name, attempt, at: now() });
          break;
        } catch (failure) {
          const error = redact.error(toErrorInfo(failure));
          const retry = attempt < step.undoRetry.maxAttempts && isRetryable(step.undoRetry, error);
          const delay = retryDelayMs(step.undoRetry, attempt);
          await writer.execute({
            type: 'FailUndo',
            data: {
              step: step.name,
              attempt,
              error,
              willRetry: retry,
              at: now(),
              ...(retry ? { retryInMs: delay } : {}),
            },
          });
          if (!retry) break;
          await clock.sleep(delay);
        }
      }
    }
    await writer.execute({ type: 'FinishRollback', at: now() });
  };

  try {
    if (writer.state().status === 'queued') {
      const acquired = await acquireResource({
        store,
        decode,
        stream: resourceStream,
        operationId: writer.id,
        now,
        watch: { stream: operationStreamName(writer.id), after: () => writer.lastPosition() },
        shouldStop: async () => cancelRequested || (await writer.refresh()).cancelled,
      });
      if (acquired === 'stopped') cancelRequested = true;
      try {
        if (cancelRequested) throw new OperationCancelledError(writer.id);
        await writer.execute({ type: 'StartOperation', at: now() });
      } catch (error) {
        if (!(error instanceof OperationCancelledError)) throw error;
        await fail({ kind: 'failed', reason: 'cancellation', error: toErrorInfo(error) });
      }
    }

    const state = writer.state();
    if (state.status === 'running' && !state.failure) {
      if (mode === 'recover' || !definition) {
        await fail({
          kind: 'failed',
          reason: 'recovery',
          error: recoveryError(state.inFlight),
          ...(state.inFlight ? { step: state.inFlight } : {}),
        });
      } else {
        const outcome = await runForward(definition);
        if (outcome.kind === 'failed') await fail(outcome);
      }
    }

    const after = writer.state();
    if (after.failure?.rollbackRequired && after.rollback.status === 'none') {
      await writer.execute({ type: 'StartRollback', at: now() });
    }
    if (writer.state().rollback.status === 'in_progress') await runRollback();

    if (hasEnded(writer.state())) {
      await releaseResource(store, decode, resourceStream, writer.id, now());
    }
    return writer.state();
  } finally {
    cancelWatch.unsubscribe();
  }
};
