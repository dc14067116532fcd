export type { PostgresConnection, PostgresPool, PostgresTimeoutOptions } from './public-types.js';
export {
  PostgresQueryTimeoutError,
  PostgresSchemaTooNewError,
  PostgresStoreOptionsError,
  PostgresUnreachableError,
  ReadStoreClosedError,
} from './errors.js';
export {
  createPostgresEventStore,
  type PostgresEventStoreOptions,
} from './postgres-event-store.js';
export { createPostgresReadStore, type PostgresReadStoreOptions } from './postgres-read-store.js';
export { isTransientPostgresError } from './transient-errors.js';
