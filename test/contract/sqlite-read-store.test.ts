import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteReadStore } from '../../src/adapters/sqlite/index.js';
import { describeReadStoreContract } from './read-store-contract.js';

describeReadStoreContract('sqlite (temp file)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'opledger-sqlite-read-contract-'));
  return {
    // A small page, so that paging through operationsCreatedBetween crosses many pages.
    readStore: createSqliteReadStore({ path: join(dir, 'read.db'), pageSize: 7 }),
    teardown: () => rm(dir, { recursive: true, force: true }),
  };
});
