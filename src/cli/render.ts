import type { OperationView } from '../engine/operation-result.js';

/** Columns padded to their widest cell: readable in a terminal, greppable in a pipe. */
export const formatTable = (header: readonly string[], rows: readonly string[][]): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
};

const outcome = (op: OperationView) => {
  if (op.status !== 'failed') return op.status;
  return op.cancelled ? 'failed (cancelled)' : 'failed';
};

export const operationsTable = (operations: readonly OperationView[]): string =>
  formatTable(
    ['ID', 'TYPE', 'RESOURCE', 'STATUS', 'ROLLBACK', 'USER', 'CREATED'],
    operations.map((op) => [
      op.id,
      op.type,
      `${op.resource.type}:${op.resource.handle}`,
      outcome(op),
      op.rollback,
      op.user,
      op.createdAt,
    ]),
  );
