import { createInMemoryEventStore } from '../../src/adapters/memory/index.js';
import { describeEventStoreContract } from './event-store-contract.js';

describeEventStoreContract('in-memory', async () => ({ store: createInMemoryEventStore() }), {
  appendToStreams: true,
});
