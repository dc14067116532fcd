export {
  createInMemoryEventStore,
  type InMemoryEventStoreOptions,
} from './in-memory-event-store.js';
