import type { OperationQuery } from '../../projections/read-store.js';

/** The WHERE clause of listOperations, with the same filters as the in-memory read store. */
export const operationQueryWhere = (
  query: OperationQuery,
): { where: string; params: (string | number)[] } => {
  const clauses = ['environment = ?'];
  const params: (string | number)[] = [query.environment];
  if (query.resource) {
    clauses.push('resource_type = ?', 'resource_handle = ?');
    params.push(query.resource.type, query.resource.handle);
  }
  if (query.status !== undefined) {
    const wanted: readonly string[] =
      typeof query.status === 'string' ? [query.status] : query.status;
    // An empty list of statuses matches nothing, as it does in memory.
    clauses.push(wanted.length ? `status IN (${wanted.map(() => '?').join(', ')})` : '0');
    params.push(...wanted);
  }
  if (query.type !== undefined) {
    clauses.push('type = ?');
    params.push(query.type);
  }
  if (query.from !== undefined) {
    clauses.push('created_at >= ?');
    params.push(query.from);
  }
  if (query.to !== undefined) {
    clauses.push('created_at < ?');
    params.push(query.to);
  }
  return { where: clauses.join(' AND '), params };
};
