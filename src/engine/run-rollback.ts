import { toErrorInfo } from '../domain/error-info.js';
import { afterUndoFailed, nextRollbackAction } from '../domain/next-action.js';
import type { OperationDefinition } from '../domain/operation-definition.js';
import { stepOutputs } from '../domain/operation.js';
import type { Redactor } from '../domain/redaction.js';
import type { StepLog } from '../domain/step.js';
import type { Clock } from './clock.js';
import { NEVER_ABORTED } from './cancel-watch.js';
import type { OperationWriter } from './operation-writer.js';

export interface RollbackContext {
  writer: OperationWriter;
  definition: OperationDefinition | undefined;
  params: Record<string, unknown>;
  clock: Clock;
  redact: Redactor;
  now: () => string;
  logger: (step: string) => StepLog;
  /** Aborted when the operation is lost to another worker; never for an engine's own. */
  signal?: AbortSignal;
}

/**
 * Runs the rollback in progress to its end: performs what `nextRollbackAction` says until it
 * says finish. Nothing interrupts it: neither a cancel nor a shutdown aborts an undo.
 */
export const runRollback = async (ctx: RollbackContext): Promise<void> => {
  const { writer, definition, clock, redact, now } = ctx;
  for (;;) {
    const action = nextRollbackAction(writer.state(), definition);
    if (action.kind === 'finish') break;
    // What runs no undo is staged: appended with the next undo's start or the verdict.
    if (action.kind === 'report') {
      writer.stage({ type: 'ReportNotUndoable', data: { step: action.step, at: now() } });
      continue;
    }
    if (action.kind === 'missing_undo') {
      writer.stage({
        type: 'StartUndo',
        data: { step: action.step, attempt: 1, at: now() },
      });
      writer.stage({
        type: 'FailUndo',
        data: { step: action.step, attempt: 1, willRetry: false, at: now(), error: action.error },
      });
      continue;
    }
    const { step, candidate } = action;
    const undo = step.undo as NonNullable<typeof step.undo>;
    for (let attempt = action.attempt; ; attempt++) {
      await writer.execute({ type: 'StartUndo', data: { step: step.name, attempt, at: now() } });
      try {
        await undo({
          operationId: writer.id,
          params: ctx.params,
          outcome: candidate.outcome,
          output: candidate.output,
          outputs: stepOutputs(writer.state()),
          provider: candidate.provider,
          log: ctx.logger(step.name),
          attempt,
          signal: ctx.signal ?? NEVER_ABORTED,
          fence: writer.fence ?? 0,
        });
        // Staged: appended with the next undo's start (before that undo runs) or the verdict.
        writer.stage({
          type: 'CompleteUndo',
          data: { step: step.name, attempt, at: now() },
        });
        break;
      } catch (failure) {
        const error = redact.error(toErrorInfo(failure));
        const then = afterUndoFailed(step, attempt, error);
        const failed = {
          type: 'FailUndo' as const,
          data: {
            step: step.name,
            attempt,
            error,
            willRetry: then.willRetry,
            at: now(),
            ...(then.willRetry ? { retryInMs: then.retryInMs } : {}),
          },
        };
        // A retry waits: the failure is durable before the wait, not after it.
        if (!then.willRetry) {
          writer.stage(failed);
          break;
        }
        await writer.execute(failed);
        await clock.sleep(then.retryInMs);
      }
    }
  }
  await writer.execute({ type: 'FinishRollback', data: { at: now() } });
};
