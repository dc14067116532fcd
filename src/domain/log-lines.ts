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

type Line = Omit<LogLine, 'operationId' | 'revision' | 'at'>;

const lineOf = (event: OperationEvent): Line | undefined => {
  switch (event.type) {
    case 'OperationRequested': {
      const d = event.data;
      return {
        level: 'info',
        message: `Operation ${d.type} requested by ${d.user} on ${d.resource.type} ${d.resource.handle} in environment ${d.environment}`,
      };
    }
    case 'OperationStarted':
      return { level: 'info', message: 'Operation started' };
    case 'OperationClaimed':
      return { level: 'info', message: `Claimed by worker ${event.data.worker}` };
    case 'OperationTakenOver': {
      const d = event.data;
      const how = d.reason === 'lease_expired' ? 'expired' : 'was released';
      return {
        level: 'warn',
        message: `Taken over by worker ${d.worker} after ${d.from.worker}'s lease ${how} at ${d.leaseEndedAt}`,
      };
    }
    case 'StepStarted': {
      const { step, attempt, provider } = event.data;
      const extra = [
        attempt > 1 ? `attempt ${attempt}` : '',
        provider ? `provider ${provider}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      return {
        level: 'info',
        step,
        message: `Step '${step}' started${extra ? ` (${extra})` : ''}`,
      };
    }
    case 'LogWritten': {
      const { level, message, step } = event.data;
      return { level, message, ...(step !== undefined ? { step } : {}) };
    }
    case 'StepSucceeded':
      return {
        level: 'info',
        step: event.data.step,
        message: `Step '${event.data.step}' succeeded`,
      };
    case 'StepFailed': {
      const d = event.data;
      const at = `Step '${d.step}' failed on attempt ${d.attempt}${d.provider ? ` with provider ${d.provider}` : ''}: ${describeError(d.error)}`;
      if (d.cancelled) return { level: 'warn', step: d.step, message: `${at} (cancelled)` };
      if (d.willRetry) {
        return {
          level: 'warn',
          step: d.step,
          message: `${at}; retrying in ${seconds(d.retryInMs ?? 0)}`,
        };
      }
      if (d.failoverTo) {
        return { level: 'warn', step: d.step, message: `${at}; failing over to ${d.failoverTo}` };
      }
      return { level: 'error', step: d.step, message: at };
    }
    case 'CancellationRequested':
      return { level: 'warn', message: `Cancellation requested by ${event.data.user}` };
    case 'OperationFailed': {
      const d = event.data;
      const where = d.failedStep ? ` at step '${d.failedStep}'` : '';
      const then = d.rollbackRequired ? '; rolling back' : '';
      switch (d.reason) {
        case 'cancellation':
          return { level: 'warn', message: `Operation cancelled${where}${then}` };
        case 'recovery':
        case 'worker_lost':
          return {
            level: 'error',
            message: `Operation interrupted${where}: ${describeError(d.error)}${then}`,
          };
        case 'failure':
          return {
            level: 'error',
            message: `Operation failed${where}: ${describeError(d.error)}${then}`,
          };
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
      return { level: 'warn', message: `${verb}: ${what}${skipped}` };
    }
    case 'StepUndoStarted': {
      const { step, attempt, outcome } = event.data;
      const notes = [
        attempt > 1 ? `attempt ${attempt}` : '',
        outcome === 'unknown' ? 'its outcome is unknown after a crash' : '',
      ].filter(Boolean);
      return {
        level: 'info',
        step,
        message: `Undoing step '${step}'${notes.length ? ` (${notes.join(', ')})` : ''}`,
      };
    }
    case 'StepUndone':
      return { level: 'info', step: event.data.step, message: `Step '${event.data.step}' undone` };
    case 'StepUndoFailed': {
      const d = event.data;
      const base = `Undo of step '${d.step}' failed on attempt ${d.attempt}: ${describeError(d.error)}`;
      return d.willRetry
        ? {
            level: 'warn',
            step: d.step,
            message: `${base}; retrying in ${seconds(d.retryInMs ?? 0)}`,
          }
        : { level: 'error', step: d.step, message: base };
    }
    case 'StepNotUndoable':
      return event.data.reason === 'irreversible'
        ? {
            level: 'warn',
            step: event.data.step,
            message: `Step '${event.data.step}' cannot be undone (irreversible): its changes stay in place`,
          }
        : {
            level: 'warn',
            step: event.data.step,
            message: `Step '${event.data.step}' skipped on request: its changes stay in place and are reported as inconsistent`,
          };
    case 'RollbackFinished':
      return event.data.outcome === 'succeeded'
        ? { level: 'info', message: ROLLBACK_SUCCEEDED }
        : { level: 'error', message: rollbackFailedVerdict(event.data.notUndone) };
    case 'OperationSucceeded':
      return { level: 'info', message: 'Operation succeeded' };
  }
  return undefined;
};

export const toLogLine = (
  operationId: string,
  revision: number,
  event: OperationEvent,
): LogLine | undefined => {
  const line = lineOf(event);
  if (!line) return undefined;
  const at = event.type === 'OperationRequested' ? event.data.createdAt : event.data.at;
  return { operationId, revision, at, ...line };
};
