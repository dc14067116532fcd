import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import {
  dialects,
  flavourOfConnectionString,
} from '../../src/adapters/eventstoredb/client-dialect.js';
import {
  createEventStoreDbEventStore,
  type EventStoreDbClient,
} from '../../src/adapters/eventstoredb/index.js';
import { describeEventStoreContract } from './event-store-contract.js';

/**
 * The shared contract against a real EventStoreDB or KurrentDB server, e.g.
 *
 *   docker run --rm -p 2113:2113 eventstore/eventstore:24.10 --insecure
 *   OPLEDGER_TEST_ESDB_URL='esdb://localhost:2113?tls=false' npx vitest run test/contract/eventstoredb.test.ts
 *
 * (kurrentdb://... runs it through @kurrent/kurrentdb-client instead.) A server cannot be
 * emptied, so each test gets a store scoped to a stream prefix of its own, starting after the
 * server's current head: it sees no other test's events, nor anything from earlier runs. Its
 * positions are the server's (sparse, far above 1n), hence `positions: 'increasing'`.
 */
const url = process.env.OPLEDGER_TEST_ESDB_URL?.trim();
const flavour = url ? flavourOfConnectionString(url) : undefined;
const run = randomUUID().slice(0, 8);
let client: EventStoreDbClient | undefined;
let stores = 0;

afterAll(async () => {
  await client?.dispose();
});

describeEventStoreContract(
  `EventStoreDB server (${flavour ?? 'not configured'})`,
  async () => {
    if (!url || !flavour) throw new Error(`OPLEDGER_TEST_ESDB_URL is not a server URL: ${url}`);
    // One connection for the whole file; the stores do not own it.
    client ??= (await dialects[flavour].load()).connect(url);
    const startAfter = await createEventStoreDbEventStore({ client, flavour }).headPosition();
    const store = createEventStoreDbEventStore({
      client,
      flavour,
      scope: { streamPrefix: `opledger-contract-${run}-${stores++}-`, startAfter },
    });
    return { store };
  },
  url && flavour
    ? { positions: 'increasing' }
    : {
        skip: url
          ? `OPLEDGER_TEST_ESDB_URL ('${url.replace(/\/\/[^@/]*@/, '//***@')}') is neither esdb:// nor kurrentdb://`
          : 'OPLEDGER_TEST_ESDB_URL is not set (e.g. esdb://localhost:2113?tls=false or kurrentdb://localhost:2113?tls=false); no EventStoreDB server to run against',
      },
);
