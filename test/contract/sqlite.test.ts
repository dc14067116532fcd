import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteEventStore } from '../../src/adapters/sqlite/index.js';
import { describeEventStoreContract } from './event-store-contract.js';

describeEventStoreContract(
  'sqlite (temp file)',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'opledger-sqlite-contract-'));
    return {
      // The contract checks behaviour, not durability: skipping an fsync per commit keeps its
      // hundreds of fresh stores fast. test/integration runs the default, synchronous 'full'.
      store: createSqliteEventStore({ path: join(dir, 'events.db'), synchronous: 'normal' }),
      teardown: () => rm(dir, { recursive: true, force: true }),
    };
  },
  { appendToStreams: true },
);
