export { type PostgresConnection } from './connection.js';
export {
  PostgresSchemaTooNewError,
  PostgresStoreOptionsError,
  ReadStoreClosedError,
} from './errors.js';
export {
  createPostgresEventStore,
  type PostgresEventStoreOptions,
} from './postgres-event-store.js';
export { createPostgresReadStore, type PostgresReadStoreOptions } from './postgres-read-store.js';
