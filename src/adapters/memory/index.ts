export {
  createInMemoryEventStore,
  type InMemoryEventStoreOptions,
} from './in-memory-event-store.js';
export { createInMemoryReadStore } from './in-memory-read-store.js';
