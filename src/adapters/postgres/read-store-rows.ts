import type { LogLevel, LogLine } from '../../domain/log-lines.js';
import type { OperationState } from '../../domain/operation.js';
import type {
  EnvironmentRecord,
  OperationRecord,
  ResourceRecord,
} from '../../projections/read-store.js';
import { optionalText, requiredText, type TextRow } from './connection.js';

export const OPERATION_COLUMNS = `id, environment, resource_type, resource_handle, type, status,
  created_at, last_revision, state::text AS state`;

export const decodeOperation = (row: TextRow): OperationRecord => ({
  id: requiredText(row, 'id'),
  environment: requiredText(row, 'environment'),
  resourceType: requiredText(row, 'resource_type'),
  resourceHandle: requiredText(row, 'resource_handle'),
  type: requiredText(row, 'type'),
  status: requiredText(row, 'status') as OperationRecord['status'],
  createdAt: requiredText(row, 'created_at'),
  lastRevision: Number(requiredText(row, 'last_revision')),
  state: JSON.parse(requiredText(row, 'state')) as OperationState,
});

export const LOG_LINE_COLUMNS = 'operation_id, revision, at, level, step, message';

export const decodeLogLine = (row: TextRow): LogLine => {
  const step = optionalText(row, 'step');
  return {
    operationId: requiredText(row, 'operation_id'),
    revision: Number(requiredText(row, 'revision')),
    at: requiredText(row, 'at'),
    level: requiredText(row, 'level') as LogLevel,
    ...(step !== undefined ? { step } : {}),
    message: requiredText(row, 'message'),
  };
};

export const RESOURCE_COLUMNS = `environment, type, handle, status, release, last_operation_id,
  last_operation_type, last_operation_at`;

export const decodeResource = (row: TextRow): ResourceRecord => {
  const release = optionalText(row, 'release');
  return {
    environment: requiredText(row, 'environment'),
    type: requiredText(row, 'type'),
    handle: requiredText(row, 'handle'),
    status: requiredText(row, 'status') as ResourceRecord['status'],
    ...(release !== undefined ? { release } : {}),
    lastOperationId: requiredText(row, 'last_operation_id'),
    lastOperationType: requiredText(row, 'last_operation_type'),
    lastOperationAt: requiredText(row, 'last_operation_at'),
  };
};

export const ENVIRONMENT_COLUMNS =
  'environment, status, first_operation_at, deprovisioned_at, purged_through';

export const decodeEnvironment = (row: TextRow): EnvironmentRecord => {
  const deprovisionedAt = optionalText(row, 'deprovisioned_at');
  const purgedThrough = optionalText(row, 'purged_through');
  return {
    environment: requiredText(row, 'environment'),
    status: requiredText(row, 'status') as EnvironmentRecord['status'],
    firstOperationAt: requiredText(row, 'first_operation_at'),
    ...(deprovisionedAt !== undefined ? { deprovisionedAt } : {}),
    ...(purgedThrough !== undefined ? { purgedThrough } : {}),
  };
};
