export type { PostgresConnection, PostgresPool } from './public-types.js';
export {
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
