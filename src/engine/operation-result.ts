import { describeError } from '../domain/error-info.js';
import type { ErrorInfo, NotUndone, ResourceRef } from '../domain/events.js';
import { ROLLBACK_SUCCEEDED, rollbackFailedVerdict } from '../domain/log-lines.js';
import type { OperationState, OperationStatus, RollbackStatus } from '../domain/operation.js';

/** An Operation as callers see it: plain data folded from its events. */
export interface OperationView {
  id: string;
  type: string;
  environment: string;
  resource: ResourceRef;
  user: string;
  params: Record<string, unknown>;
  status: OperationStatus;
  cancelled: boolean;
  rollback: RollbackStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  failedStep?: string;
  error?: ErrorInfo;
  notUndone: NotUndone[];
}

/** How an Operation ended. Never just "failed": the step, the causes and the rollback verdict. */
export interface OperationResult {
  id: string;
  type: string;
  status: 'succeeded' | 'failed';
  cancelled: boolean;
  rollback: RollbackStatus;
  failedStep?: string;
  error?: ErrorInfo;
  notUndone: NotUndone[];
  /** One sentence for people, e.g. for a CLI or a chat notification. */
  summary: string;
}

export const toOperationView = (s: OperationState): OperationView => ({
  id: s.id,
  type: s.type,
  environment: s.environment,
  resource: s.resource,
  user: s.user,
  params: s.params,
  status: s.status === 'none' ? 'queued' : s.status,
  cancelled: s.cancelled,
  rollback: s.rollback.status,
  createdAt: s.createdAt,
  ...(s.startedAt ? { startedAt: s.startedAt } : {}),
  ...(s.finishedAt ? { finishedAt: s.finishedAt } : {}),
  ...(s.failure?.failedStep ? { failedStep: s.failure.failedStep } : {}),
  ...(s.failure ? { error: s.failure.error } : {}),
  notUndone: s.rollback.notUndone,
});

const summarise = (s: OperationState): string => {
  const name = `Operation ${s.type} ${s.id} on ${s.resource.type} ${s.resource.handle}`;
  if (s.status === 'succeeded') return `${name} succeeded.`;
  const f = s.failure;
  const where = f?.failedStep ? ` at step '${f.failedStep}'` : '';
  const what =
    f?.reason === 'cancellation'
      ? `was cancelled by ${s.cancelledBy ?? 'a user'}${where}.`
      : `failed${where}: ${f ? describeError(f.error) : 'unknown error'}.`;
  const rollback =
    s.rollback.status === 'succeeded'
      ? ` ${ROLLBACK_SUCCEEDED}`
      : s.rollback.status === 'failed'
        ? ` ${rollbackFailedVerdict(s.rollback.notUndone)}`
        : ' Nothing needed rolling back.';
  return `${name} ${what}${rollback}`;
};

export const toOperationResult = (s: OperationState): OperationResult => {
  const view = toOperationView(s);
  return {
    id: view.id,
    type: view.type,
    status: view.status === 'succeeded' ? 'succeeded' : 'failed',
    cancelled: view.cancelled,
    rollback: view.rollback,
    ...(view.failedStep ? { failedStep: view.failedStep } : {}),
    ...(view.error ? { error: view.error } : {}),
    notUndone: view.notUndone,
    summary: summarise(s),
  };
};
