/**
 * `opledger/adapters/eventstoredb`: the event store on EventStoreDB (@eventstore/db-client 6.x)
 * or KurrentDB (@kurrent/kurrentdb-client 1.x). Both packages are optional peer dependencies;
 * install the one you use. See README.md in this folder.
 */
export {
  createEventStoreDbEventStore,
  type EventStoreDbConnection,
  type EventStoreDbEventStore,
  type EventStoreDbEventStoreOptions,
} from './eventstoredb-event-store.js';
export type { ClientFlavour } from './client-dialect.js';
export type { EventStoreDbClient } from './client-shape.js';
export type { EventStoreDbScope } from './stream-scope.js';
export {
  AppendOutcomeUnknownError,
  EventStoreDbConfigError,
  MissingClientPackageError,
  NotLeaderError,
  SubscriptionDroppedError,
  UnsupportedServerError,
} from './errors.js';
export { isTransientEventStoreDbError } from './transient-errors.js';
