import { createEventStoreDbEventStore } from '../../src/adapters/eventstoredb/index.js';
import { describeEventStoreContract } from '../contract/event-store-contract.js';
import { createFakeClient, createFakeServer, type Flavour } from './eventstoredb-fake-client.js';

/**
 * The shared contract over the simulated server (eventstoredb-fake-client.ts), run the way the
 * real-server contract runs: one server shared by every test, holding system events and other
 * tests' streams, each store confined to a fresh stream prefix after the current head. This
 * checks the adapter's logic end to end; whether the real server behaves as simulated is what
 * test/contract/eventstoredb.test.ts checks when a server is available.
 */
for (const flavour of ['eventstoredb', 'kurrentdb'] as const satisfies readonly Flavour[]) {
  const server = createFakeServer();
  const client = createFakeClient(flavour, server);
  let run = 0;
  describeEventStoreContract(
    `EventStoreDB adapter over a simulated ${flavour} client`,
    async () => {
      server.writeSystemEvents();
      server.writeRaw(`other-app-${run}`, { type: 'NotOpledger', data: '{"x":1}' });
      const store = createEventStoreDbEventStore({
        client,
        scope: { streamPrefix: `contract-${run++}-`, startAfter: server.head() ?? 0n },
      });
      return { store };
    },
    { positions: 'increasing' },
  );
}
