import type { LogLine } from '../domain/log-lines.js';
import type {
  EnvironmentRecord,
  OperationRecord,
  ResourceRecord,
} from '../projections/read-store.js';

/**
 * The values a SQL read store writes for each record, in the order of its table's columns
 * (the same in the SQLite and PostgreSQL schemas): an absent optional field is NULL, the
 * operation's state JSON text.
 */
type SqlValue = string | number | null;

/** id, environment, resource_type, resource_handle, type, status, created_at, last_revision, state. */
export const operationValues = (r: OperationRecord): SqlValue[] => [
  r.id,
  r.environment,
  r.resourceType,
  r.resourceHandle,
  r.type,
  r.status,
  r.createdAt,
  r.lastRevision,
  JSON.stringify(r.state),
];

/** operation_id, revision, at, level, step, message. */
export const logLineValues = (l: LogLine): SqlValue[] => [
  l.operationId,
  l.revision,
  l.at,
  l.level,
  l.step ?? null,
  l.message,
];

/** environment, type, handle, status, release, last_operation_id, last_operation_type, last_operation_at. */
export const resourceValues = (r: ResourceRecord): SqlValue[] => [
  r.environment,
  r.type,
  r.handle,
  r.status,
  r.release ?? null,
  r.lastOperationId,
  r.lastOperationType,
  r.lastOperationAt,
];

/** environment, status, first_operation_at, deprovisioned_at, purged_through. */
export const environmentValues = (r: EnvironmentRecord): SqlValue[] => [
  r.environment,
  r.status,
  r.firstOperationAt,
  r.deprovisionedAt ?? null,
  r.purgedThrough ?? null,
];
