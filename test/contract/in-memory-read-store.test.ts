import { createInMemoryReadStore } from '../../src/adapters/memory/index.js';
import { describeReadStoreContract } from './read-store-contract.js';

describeReadStoreContract('in-memory', async () => ({ readStore: createInMemoryReadStore() }));
