import { describeError } from '../domain/error-info.js';
import type { OperationRecord, ResourceRecord } from './read-store.js';

/** The columns of an Activity Report, in order (DESIGN.md). */
export const ACTIVITY_REPORT_COLUMNS = [
  'operation_id',
  'environment',
  'resource_type',
  'resource_handle',
  'resource_deleted',
  'operation_type',
  'status',
  'rollback',
  'cancelled',
  'user',
  'created_at',
  'started_at',
  'finished_at',
  'duration_seconds',
  'failed_step',
  'failure_reason',
] as const;

export type ActivityReportRow = Record<(typeof ACTIVITY_REPORT_COLUMNS)[number], string>;

const durationSeconds = (from: string | undefined, to: string | undefined): string => {
  if (!from || !to) return '';
  const ms = new Date(to).getTime() - new Date(from).getTime();
  return (ms / 1000).toFixed(3);
};

/** One report row: plain strings, blank where the operation has not got that far. */
export const toActivityReportRow = (
  record: OperationRecord,
  resource: ResourceRecord | undefined,
): ActivityReportRow => {
  const s = record.state;
  return {
    operation_id: s.id,
    environment: s.environment,
    resource_type: s.resource.type,
    resource_handle: s.resource.handle,
    resource_deleted: String(resource?.status === 'deprovisioned'),
    operation_type: s.type,
    status: s.status,
    rollback: s.rollback.status,
    cancelled: String(s.cancelled),
    user: s.user,
    created_at: s.createdAt,
    started_at: s.startedAt ?? '',
    finished_at: s.finishedAt ?? '',
    duration_seconds: durationSeconds(s.startedAt ?? s.createdAt, s.finishedAt),
    failed_step: s.failure?.failedStep ?? '',
    failure_reason: s.failure ? describeError(s.failure.error) : '',
  };
};

const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A spreadsheet runs a cell that starts with = + - @ tab or CR as a formula (CSV injection):
 * such cells get a leading apostrophe, which spreadsheets show as text.
 *
 * @example
 * ```ts
 * import { neutraliseFormula } from 'opledger/projections';
 *
 * neutraliseFormula('=HYPERLINK("x")'); // "'=HYPERLINK(\"x\")"
 * neutraliseFormula('deploy web'); // 'deploy web'
 * ```
 */
export const neutraliseFormula = (cell: string): string =>
  FORMULA_START.test(cell) ? `'${cell}` : cell;
