import { OperationCancelledError, OperationLostError } from '../domain/errors.js';
import type { EventStore } from '../domain/event-store.js';
import { toErrorInfo } from '../domain/error-info.js';
import {
  afterAttemptFailed,
  cancelled,
  cancelledBefore,
  failOperation,
  nextStep,
  recovered,
  type ForwardAction,
  type ForwardFailure,
  type RunStep,
} from '../domain/next-action.js';
import type { OperationDefinition } from '../domain/operation-definition.js';
import { hasEnded, plannedStep, stepOutputs, type OperationState } from '../domain/operation.js';
import { createRedactor, type Redactor } from '../domain/redaction.js';
import { operationStreamName, resourceStreamName } from '../domain/stream-names.js';
import type { Step, StepLog } from '../domain/step.js';
import { CancelWatch, type StreamWatch } from './cancel-watch.js';
import { isoNow, type Clock } from './clock.js';
import type { Decode } from './operation-stream.js';
import type { OperationWriter } from './operation-writer.js';
import { acquireResource, releaseResource } from './resource-queue-stream.js';
import { runRollback } from './run-rollback.js';
import { attemptStep, type AttemptOutcome } from './step-attempt.js';

export interface RunnerDeps {
  store: EventStore;
  decode: Decode;
  clock: Clock;
  /** The engine's (or worker's) one subscription for the cancel watches of its runs. */
  streams?: StreamWatch;
}

export interface RunInput {
  writer: OperationWriter;
  /** Undefined when the store holds an operation type this engine does not know (recovery). */
  definition: OperationDefinition | undefined;
  /** Validated params with their secrets; after a crash only the redacted ones are left. */
  params: Record<string, unknown>;
  /**
   * 'recover': the process that ran it is gone, so whatever was running is rolled back;
   * 'takeover': the same, after the worker that ran it lost its lease.
   */
  mode: 'fresh' | 'recover' | 'takeover';
  /** A worker's: aborted when its lease is lost, which stops this run at once. */
  lost?: AbortSignal;
}

/**
 * Runs an Operation from wherever its events say it is to its end: waits for its resource,
 * runs its steps, and on failure or cancellation rolls back what the events say was done.
 * What to do next is the domain's choice (next-action.ts); this loop performs it and records
 * what happened.
 */
export const driveOperation = async (
  deps: RunnerDeps,
  input: RunInput,
): Promise<OperationState> => {
  const { store, decode, clock } = deps;
  const { writer, definition, mode } = input;
  const now = isoNow(clock);
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

  const watch = new CancelWatch(store, writer, input.lost, deps.streams);

  // Staged: the verdict goes in one append with what follows it (the rollback's start), or
  // is flushed before the resource is released.
  const fail = (failure: ForwardFailure) =>
    writer.stage(failOperation(writer.state(), failure, now()));

  // `perform` and what follows it give up the turn only when something made them wait: a store
  // that appends synchronously and a step that returns at once run a step without a promise
  // (each async frame, each await, was part of the engine's own cost per step).

  /** Performs `action`, a step attempt, and returns what the domain says comes next. */
  const perform = (
    def: OperationDefinition,
    action: RunStep<Step>,
  ): ForwardAction<Step> | Promise<ForwardAction<Step>> => {
    if (watch.requested) return cancelledBefore(writer.state(), action);
    const { step, attempt, provider } = action;
    const startRefused = (error: unknown): ForwardAction<Step> => {
      if (error instanceof OperationCancelledError) return cancelledBefore(writer.state(), action);
      throw error;
    };
    let started: unknown;
    try {
      started = writer.executeSoon({
        type: 'StartStep',
        data: {
          step: step.name,
          attempt,
          at: now(),
          ...(provider !== undefined ? { provider } : {}),
        },
      });
    } catch (error) {
      return startRefused(error);
    }
    return started instanceof Promise
      ? started.then(() => runStarted(def, action), startRefused)
      : runStarted(def, action);
  };

  /** The attempt of a step whose start is durable. */
  const runStarted = (
    def: OperationDefinition,
    action: RunStep<Step>,
  ): ForwardAction<Step> | Promise<ForwardAction<Step>> => {
    // Lost while its start was being appended (a worker's lease judged lost as the append waited
    // for a locked store): the step is not begun. Its start is recorded, so whoever takes the
    // operation over treats it as possibly done and undoes it, as after a crash at this point.
    if (watch.lost) throw watch.lostSignal.reason;
    const attempted = attemptStep(action, {
      operationId: writer.id,
      params: input.params,
      outputs: stepOutputs(writer.state()),
      log: logger(action.step.name),
      watch,
      redact,
      now,
      clock,
      heartbeatDetails: plannedStep(writer.state().steps, action.step.name)?.heartbeat,
      fence: writer.fence ?? 0,
    });
    return attempted instanceof Promise
      ? attempted.then((outcome) => recordOutcome(def, action, outcome))
      : recordOutcome(def, action, attempted);
  };

  /** Records how the attempt went, and says what comes next. */
  const recordOutcome = (
    def: OperationDefinition,
    action: RunStep<Step>,
    outcome: AttemptOutcome,
  ): ForwardAction<Step> | Promise<ForwardAction<Step>> => {
    const { step, attempt, provider } = action;
    if (outcome.kind === 'succeeded') {
      const { output, at } = outcome;
      // Staged, not awaited: the success goes in one append with what comes next (the next
      // step's start, the operation's end or its failure). Nothing runs before that append is
      // durable, as the next step runs only once its start is.
      writer.stage({
        type: 'CompleteStep',
        data: {
          step: step.name,
          attempt,
          at,
          ...(provider !== undefined ? { provider } : {}),
          ...(output !== undefined ? { output: redact.value(output) } : {}),
        },
      });
      return nextStep(writer.state(), def);
    }
    const { data, next } = afterAttemptFailed(
      writer.state(),
      action,
      outcome.failure,
      outcome.error,
      outcome.at,
    );
    // Heartbeat details are written only here, with the failure: a heartbeat itself writes nothing.
    const heartbeat =
      outcome.heartbeat === undefined ? {} : { heartbeat: redact.value(outcome.heartbeat) };
    const failed = { type: 'FailStep' as const, data: { ...data, ...heartbeat } };
    // Before a wait the failure is made durable; otherwise it goes with what comes next (the
    // next attempt's start, or the operation's failure and its rollback's start).
    if (next.kind !== 'wait') {
      writer.stage(failed);
      return next;
    }
    const written = writer.executeSoon(failed);
    return written instanceof Promise ? written.then(() => next) : next;
  };

  const succeed = async (def: OperationDefinition): Promise<ForwardFailure | undefined> => {
    let release: string | undefined;
    try {
      release = def.release?.({ params: input.params, outputs: stepOutputs(writer.state()) });
    } catch (error) {
      // A bug in the definition's release function fails the operation like a step would.
      return { kind: 'fail', reason: 'failure', error: redact.error(toErrorInfo(error)) };
    }
    try {
      const effects = {
        ...(def.lifecycle ? { lifecycle: def.lifecycle } : {}),
        ...(release ? { release } : {}),
      };
      await writer.execute({
        type: 'SucceedOperation',
        data: { at: now(), ...(Object.keys(effects).length ? { effects } : {}) },
      });
      return undefined;
    } catch (error) {
      if (!(error instanceof OperationCancelledError)) throw error;
      return cancelled(writer.state());
    }
  };

  /** The forward run: undefined when it succeeded, else the verdict to record. */
  const runForward = async (def: OperationDefinition): Promise<ForwardFailure | undefined> => {
    let action: ForwardAction<Step> = nextStep(writer.state(), def);
    for (;;) {
      switch (action.kind) {
        case 'run': {
          const next = perform(def, action);
          action = next instanceof Promise ? await next : next;
          break;
        }
        case 'wait':
          try {
            await clock.sleep(action.delayMs, watch.signal);
          } catch {
            return cancelled(writer.state(), action.then.step.name);
          }
          action = action.then;
          break;
        case 'succeed':
          return succeed(def);
        case 'fail':
          return action;
      }
    }
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
        shouldStop: async () => watch.requested || (await writer.refresh()).cancelled,
      });
      if (acquired === 'stopped') watch.request();
      try {
        if (watch.requested) throw new OperationCancelledError(writer.id);
        // Staged: appended with the first step's start (or the verdict), in one append.
        writer.stage({ type: 'StartOperation', data: { at: now() } });
      } catch (error) {
        if (!(error instanceof OperationCancelledError)) throw error;
        fail({ kind: 'fail', reason: 'cancellation', error: toErrorInfo(error) });
      }
    }

    const state = writer.state();
    if (state.status === 'running' && !state.failure) {
      if (mode !== 'fresh' || !definition) {
        fail(recovered(state, mode === 'takeover' ? 'worker_lost' : 'recovery'));
      } else {
        const failure = await runForward(definition);
        if (failure) fail(failure);
      }
    }

    const after = writer.state();
    if (after.failure?.rollbackRequired && after.rollback.status === 'none') {
      // Staged: appended with the first undo's start, before that undo runs, or the verdict.
      writer.stage({ type: 'StartRollback', data: { at: now() } });
    }
    if (writer.state().rollback.status === 'in_progress') {
      await runRollback({
        writer,
        definition,
        params: input.params,
        clock,
        redact,
        now,
        logger,
        signal: watch.lostSignal,
      });
    }

    // Whatever is still staged is durable before anything is done on the strength of it.
    await writer.flush();
    if (hasEnded(writer.state())) {
      await releaseResource(store, decode, resourceStream, writer.id, now());
    }
    return writer.state();
  } catch (error) {
    // Found out by a refused append: abort what still runs before saying so.
    if (error instanceof OperationLostError) watch.lose(error);
    throw error;
  } finally {
    watch.stop();
  }
};
