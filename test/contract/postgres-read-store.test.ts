import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { createPostgresReadStore } from '../../src/adapters/postgres/index.js';
import { useTestDatabase } from '../support/postgres-database.js';
import { describeReadStoreContract } from './read-store-contract.js';

const database = useTestDatabase();
let pool: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: database.url, max: 10 });
  pool.on('error', () => undefined);
});
afterAll(() => pool.end());

const TABLES = [
  'operations',
  'operation_log_lines',
  'resources',
  'environments',
  'projection_checkpoints',
  'projection_skipped_events',
  'projection_documents',
  'projection_versions',
];

// As in the event store contract: migrating a schema costs far more than emptying one, so a
// store gets a schema no other open store uses, emptied once the store is closed.
const emptied: string[] = [];

describeReadStoreContract('postgres', async () => {
  const schema = emptied.pop() ?? database.uniqueSchema('read_contract');
  return {
    // A small page, so that operationsCreatedBetween crosses many pages.
    readStore: createPostgresReadStore({ pool }, { schema, pageSize: 7 }),
    teardown: async () => {
      await pool.query(TABLES.map((t) => `DELETE FROM "${schema}".${t};`).join(' '));
      emptied.push(schema);
    },
  };
});
