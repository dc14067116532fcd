import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { createPostgresEventStore } from '../../src/adapters/postgres/index.js';
import { useTestDatabase } from '../support/postgres-database.js';
import { describeEventStoreContract } from './event-store-contract.js';

const database = useTestDatabase();
let pool: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: database.url, max: 20 });
  pool.on('error', () => undefined);
});
afterAll(() => pool.end());

// The properties build ~300 stores. Migrating a new schema costs ~50 ms of DDL, emptying a
// used one ~1 ms, and positions start again at 1n in an emptied table (they are max + 1, not
// drawn from a sequence): so a store gets a schema no other open store uses, emptied after.
const emptied: string[] = [];

describeEventStoreContract(
  'postgres',
  async () => {
    const schema = emptied.pop() ?? database.uniqueSchema('contract');
    return {
      store: createPostgresEventStore({ pool }, { schema }),
      teardown: async () => {
        await pool.query(`DELETE FROM "${schema}".events`);
        emptied.push(schema);
      },
    };
  },
  { appendToStreams: true },
);
