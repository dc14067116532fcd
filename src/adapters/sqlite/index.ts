export { createSqliteEventStore, type SqliteEventStoreOptions } from './sqlite-event-store.js';
export { createSqliteReadStore, type SqliteReadStoreOptions } from './sqlite-read-store.js';
export {
  ReadOnlySchemaError,
  ReadOnlyStoreError,
  ReadStoreClosedError,
  SchemaVersionError,
  StoreFileReadOnlyError,
  StoreFullError,
} from './errors.js';
export type { SqliteDatabase, Synchronous } from './public-types.js';
export { isTransientSqliteError } from './transient-errors.js';
