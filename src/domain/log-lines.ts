import { describeError } from './error-info.js';
import type { NotUndone, OperationEvent } from './events.js';

export type LogLevel = 'info' | 'warn' | 'error';

/** One line of an Operation Log. Engine lines and step lines come from the same events. */
export interface LogLine {
  operationId: string;
  /** Revision of the event in the operation's stream: lines sort by it. */
  revision: number;
  at: string;
  level: LogLevel;
  step?: string;
  message: string;
}

const seconds = (ms: number) =>
  `${(ms / 1000).toLocaleString('en-US', { maximumFractionDigits: 3 })}s`;

const describeNotUndone = (n: NotUndone): string => {
  switch (n.reason) {
    case 'irreversible':
      return `'${n.step}' (irreversible)`;
    case 'skipped':
      return `'${n.step}' (skipped on request: left inconsistent)`;
    case 'undo_failed':
      return `'${n.step}' (undo failed: ${n.error ?? 'unknown error'})`;
  }
};

export const ROLLBACK_SUCCEEDED =
  'Rollback succeeded: everything was restored to the way it was before the operation.';

export const rollbackFailedVerdict = (notUndone: readonly NotUndone[]): string =>
  `Rollback failed: these changes could not be undone: ${notUndone.map(describeNotUndone).join(', ')}.`;

/**
 * The line itself, built once: lineOf used to return a partial line that toLogLine spread into
 * a second object, two allocations and a spread per event of a rebuild (bench/NOTES.md,
 * "Rebuild, round 6"). Keys keep the order the spread gave them.
 */
const line = (
  operationId: string,
  revision: number,
  at: string,
  level: LogLevel,
  message: string,
  step?: string,
): LogLine =>
  step === undefined
    ? { operationId, revision, at, level, message }
    : { operationId, revision, at, level, step, message };

const lineOf = (
  id: string,
  revision: number,
  at: string,
  event: OperationEvent,
): LogLine | undefined => {
  switch (event.type) {
    case 'OperationRequested': {
      const d = event.data;
      return line(
        id,
        revision,
        at,
        'info',
        `Operation ${d.type} requested by ${d.user} on ${d.resource.type} ${d.resource.handle} in environment ${d.environment}`,
      );
    }
    case 'OperationStarted':
      return line(id, revision, at, 'info', 'Operation started');
    case 'OperationClaimed':
      return line(id, revision, at, 'info', `Claimed by worker ${event.data.worker}`);
    case 'OperationTakenOver': {
      const d = event.data;
      const how = d.reason === 'lease_expired' ? 'expired' : 'was released';
      return line(
        id,
        revision,
        at,
        'warn',
        `Taken over by worker ${d.worker} after ${d.from.worker}'s lease ${how} at ${d.leaseEndedAt}`,
      );
    }
    case 'StepStarted': {
      const { step, attempt, provider } = event.data;
      // Without an array to filter and join: a StepStarted is one event in four of a rebuild.
      const retry = attempt > 1 ? `attempt ${attempt}` : '';
      const extra = provider
        ? retry
          ? `${retry}, provider ${provider}`
          : `provider ${provider}`
        : retry;
      return line(
        id,
        revision,
        at,
        'info',
        `Step '${step}' started${extra ? ` (${extra})` : ''}`,
        step,
      );
    }
    case 'LogWritten': {
      const { level, message, step } = event.data;
      // A step's own line keeps the key order it had: message before step.
      return step === undefined
        ? line(id, revision, at, level, message)
        : { operationId: id, revision, at, level, message, step };
    }
    case 'StepSucceeded':
      return line(id, revision, at, 'info', `Step '${event.data.step}' succeeded`, event.data.step);
    case 'StepFailed': {
      const d = event.data;
      const failed = `Step '${d.step}' failed on attempt ${d.attempt}${d.provider ? ` with provider ${d.provider}` : ''}: ${describeError(d.error)}`;
      if (d.cancelled) return line(id, revision, at, 'warn', `${failed} (cancelled)`, d.step);
      if (d.willRetry) {
        return line(
          id,
          revision,
          at,
          'warn',
          `${failed}; retrying in ${seconds(d.retryInMs ?? 0)}`,
          d.step,
        );
      }
      if (d.failoverTo) {
        return line(id, revision, at, 'warn', `${failed}; failing over to ${d.failoverTo}`, d.step);
      }
      return line(id, revision, at, 'error', failed, d.step);
    }
    case 'CancellationRequested':
      return line(id, revision, at, 'warn', `Cancellation requested by ${event.data.user}`);
    case 'OperationFailed': {
      const d = event.data;
      const where = d.failedStep ? ` at step '${d.failedStep}'` : '';
      const then = d.rollbackRequired ? '; rolling back' : '';
      switch (d.reason) {
        case 'cancellation':
          return line(id, revision, at, 'warn', `Operation cancelled${where}${then}`);
        case 'recovery':
        case 'worker_lost':
          return line(
            id,
            revision,
            at,
            'error',
            `Operation interrupted${where}: ${describeError(d.error)}${then}`,
          );
        case 'failure':
          return line(
            id,
            revision,
            at,
            'error',
            `Operation failed${where}: ${describeError(d.error)}${then}`,
          );
      }
      break;
    }
    case 'RollbackStarted': {
      const { plan, reason, skip } = event.data;
      const what = plan.length
        ? `steps to roll back, newest first: ${plan.join(', ')}`
        : 'nothing to undo';
      const verb = reason === 'continue' ? 'Continuing rollback' : `Rollback started (${reason})`;
      const skipped = skip?.length ? `; skipping ${skip.join(', ')}` : '';
      return line(id, revision, at, 'warn', `${verb}: ${what}${skipped}`);
    }
    case 'StepUndoStarted': {
      const { step, attempt, outcome } = event.data;
      const notes = [
        attempt > 1 ? `attempt ${attempt}` : '',
        outcome === 'unknown' ? 'its outcome is unknown after a crash' : '',
      ].filter(Boolean);
      return line(
        id,
        revision,
        at,
        'info',
        `Undoing step '${step}'${notes.length ? ` (${notes.join(', ')})` : ''}`,
        step,
      );
    }
    case 'StepUndone':
      return line(id, revision, at, 'info', `Step '${event.data.step}' undone`, event.data.step);
    case 'StepUndoFailed': {
      const d = event.data;
      const base = `Undo of step '${d.step}' failed on attempt ${d.attempt}: ${describeError(d.error)}`;
      return d.willRetry
        ? line(
            id,
            revision,
            at,
            'warn',
            `${base}; retrying in ${seconds(d.retryInMs ?? 0)}`,
            d.step,
          )
        : line(id, revision, at, 'error', base, d.step);
    }
    case 'StepNotUndoable':
      return event.data.reason === 'irreversible'
        ? line(
            id,
            revision,
            at,
            'warn',
            `Step '${event.data.step}' cannot be undone (irreversible): its changes stay in place`,
            event.data.step,
          )
        : line(
            id,
            revision,
            at,
            'warn',
            `Step '${event.data.step}' skipped on request: its changes stay in place and are reported as inconsistent`,
            event.data.step,
          );
    case 'RollbackFinished':
      return event.data.outcome === 'succeeded'
        ? line(id, revision, at, 'info', ROLLBACK_SUCCEEDED)
        : line(id, revision, at, 'error', rollbackFailedVerdict(event.data.notUndone));
    case 'OperationSucceeded':
      return line(id, revision, at, 'info', 'Operation succeeded');
  }
  return undefined;
};

export const toLogLine = (
  operationId: string,
  revision: number,
  event: OperationEvent,
): LogLine | undefined => {
  const at = event.type === 'OperationRequested' ? event.data.createdAt : event.data.at;
  return lineOf(operationId, revision, at, event);
};
