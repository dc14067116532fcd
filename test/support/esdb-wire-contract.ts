import { afterAll, beforeAll, vi } from 'vitest';
import { dialects } from '../../src/adapters/eventstoredb/client-dialect.js';
import {
  createEventStoreDbEventStore,
  type EventStoreDbClient,
} from '../../src/adapters/eventstoredb/index.js';
import { describeEventStoreContract } from '../contract/event-store-contract.js';
import { startEsdbWireServer, type EsdbWireServer, type Flavour } from './esdb-wire-server.js';

/**
 * The shared event-store contract through a real client package, over the network, against
 * the wire-level test server (esdb-wire-server.ts): once with appends through BatchAppend (what
 * the clients pick when the server offers it, as EventStoreDB >= 21.10 and KurrentDB do) and
 * once through Append. Run the way the real-server contract runs: one server and one client for
 * the file, each test in a store scoped to a fresh stream prefix after the current head, with
 * system events and another application's stream written in between.
 */
export const describeWireContract = (flavour: Flavour): void => {
  // Every call crosses HTTP/2 and the generated codecs: the contract's properties (a hundred
  // fresh stores each, one server shared by the file) take several times longer than in memory,
  // and more on a loaded machine. A bound against hangs, not an assertion on speed.
  vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });
  for (const batchAppend of [true, false]) {
    let server: EsdbWireServer | undefined;
    let client: EventStoreDbClient | undefined;
    let run = 0;
    beforeAll(async () => {
      server ??= await startEsdbWireServer({ flavour, batchAppend });
    });
    afterAll(async () => {
      await client?.dispose();
      await server?.stop();
    });
    describeEventStoreContract(
      `EventStoreDB adapter over the wire: ${dialects[flavour].packageName}, appends through ${batchAppend ? 'BatchAppend' : 'Append'}`,
      async () => {
        server ??= await startEsdbWireServer({ flavour, batchAppend });
        client ??= (await dialects[flavour].load()).connect(server.url());
        server.log.writeSystemEvents();
        server.log.writeRaw(`other-app-${run}`, 'NotOpledger', '{"x":1}');
        const startAfter = await createEventStoreDbEventStore({ client, flavour }).headPosition();
        const store = createEventStoreDbEventStore({
          client,
          flavour,
          scope: { streamPrefix: `contract-${run++}-`, startAfter },
        });
        return { store };
      },
      { positions: 'increasing' },
    );
  }
};
