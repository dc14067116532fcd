import { OpledgerError } from '../../domain/errors.js';
import type { LogLine } from '../../domain/log-lines.js';
import type { OperationState } from '../../domain/operation.js';
import type {
  EnvironmentRecord,
  OperationRecord,
  ResourceRecord,
} from '../../projections/read-store.js';

export interface OperationRow {
  id: string;
  environment: string;
  resource_type: string;
  resource_handle: string;
  type: string;
  status: string;
  created_at: string;
  last_revision: number;
  state: string;
}

export interface LogLineRow {
  operation_id: string;
  revision: number;
  at: string;
  level: string;
  step: string | null;
  message: string;
}

export interface ResourceRow {
  environment: string;
  type: string;
  handle: string;
  status: string;
  release: string | null;
  last_operation_id: string;
  last_operation_type: string;
  last_operation_at: string;
}

export interface EnvironmentRow {
  environment: string;
  status: string;
  first_operation_at: string;
  deprovisioned_at: string | null;
  purged_through: string | null;
}

const parseState = (row: OperationRow): OperationState => {
  try {
    return JSON.parse(row.state) as OperationState;
  } catch (error) {
    throw new OpledgerError(
      'INVALID_READ_MODEL',
      `The stored state of operation ${row.id} is not valid JSON (${error instanceof Error ? error.message : String(error)}): rebuild the read model with projector.rebuild().`,
      { cause: error },
    );
  }
};

export const toOperationRecord = (row: OperationRow): OperationRecord => ({
  id: row.id,
  environment: row.environment,
  resourceType: row.resource_type,
  resourceHandle: row.resource_handle,
  type: row.type,
  status: row.status as OperationRecord['status'],
  createdAt: row.created_at,
  lastRevision: row.last_revision,
  state: parseState(row),
});

export const toLogLine = (row: LogLineRow): LogLine => ({
  operationId: row.operation_id,
  revision: row.revision,
  at: row.at,
  level: row.level as LogLine['level'],
  ...(row.step !== null ? { step: row.step } : {}),
  message: row.message,
});

export const toResourceRecord = (row: ResourceRow): ResourceRecord => ({
  environment: row.environment,
  type: row.type,
  handle: row.handle,
  status: row.status as ResourceRecord['status'],
  ...(row.release !== null ? { release: row.release } : {}),
  lastOperationId: row.last_operation_id,
  lastOperationType: row.last_operation_type,
  lastOperationAt: row.last_operation_at,
});

export const toEnvironmentRecord = (row: EnvironmentRow): EnvironmentRecord => ({
  environment: row.environment,
  status: row.status as EnvironmentRecord['status'],
  firstOperationAt: row.first_operation_at,
  ...(row.deprovisioned_at !== null ? { deprovisionedAt: row.deprovisioned_at } : {}),
  ...(row.purged_through !== null ? { purgedThrough: row.purged_through } : {}),
});
