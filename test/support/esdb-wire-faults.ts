import { firstValueFrom, filter as where, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AppendOutcomeUnknownError,
  createEventStoreDbEventStore,
  NotLeaderError,
  type EventStoreDbEventStore,
} from '../../src/adapters/eventstoredb/index.js';
import type { RecordedEvent } from '../../src/domain/event-store.js';
import {
  startEsdbWireServer,
  type EsdbLog,
  type EsdbWireServer,
  type Flavour,
} from './esdb-wire-server.js';

/**
 * Faults the fake client could not show, through a real client package over the network
 * against the wire-level test server (esdb-wire-server.ts). One package per test file: the two
 * cannot share a process (see the server's loadProtocol).
 */
export const describeWireFaults = (flavour: Flavour): void => {
  const servers: EsdbWireServer[] = [];
  const stores: EventStoreDbEventStore[] = [];

  const start = async (options: { batchAppend?: boolean; log?: EsdbLog } = {}) => {
    const server = await startEsdbWireServer({ flavour, ...options });
    servers.push(server);
    return server;
  };

  const open = (server: EsdbWireServer, query = '') => {
    const store = createEventStoreDbEventStore({ connectionString: server.url(query) });
    stores.push(store);
    return store;
  };

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });

  const event = (n: number) => ({ type: 'Numbered', version: 1, data: { n } });
  const numbers = (events: readonly RecordedEvent[]) =>
    events.map((e) => (e.data as { n: number }).n);

  /** An opledger event written straight into the server's log, as another process would. */
  const writeBehindTheStoresBack = (server: EsdbWireServer, stream: string, n: number) =>
    server.log.writeRaw(
      stream,
      'Numbered',
      JSON.stringify({ n }),
      JSON.stringify({ opledger: { version: 1, recordedAt: new Date(0).toISOString() } }),
    );

  describe(`EventStoreDB adapter over the wire: faults (${flavour})`, () => {
    it('closes its client after subscribe({ after: "end" }) (a read left early used to hang dispose())', async () => {
      const server = await start();
      const store = open(server);
      await store.append('s', [event(1)]);
      const live = store.subscribe({ after: 'end' }).subscribe();
      await server.untilSubscriptions(1);
      live.unsubscribe();
      // Hung forever before the adapter read bounded reads to their end (scan-all.ts readToEnd).
      await store.close();
    });

    it('closes its client after reads and appends that look at one event only', async () => {
      const server = await start();
      const store = open(server);
      await store.append('s', [event(1), event(2)]);
      // An empty append and a conflict read the stream's tip (one event, left early before).
      await store.append('s', [], { expectedVersion: 1n });
      await expect(store.append('s', [event(3)], { expectedVersion: 0n })).rejects.toMatchObject({
        code: 'CONCURRENCY_CONFLICT',
        actual: 1n,
      });
      expect(await store.readAll({ maxCount: 1 })).toHaveLength(1);
      expect(await store.headPosition()).toBeGreaterThan(0n);
      await store.close();
    });

    for (const how of ['restarted', 'ended the stream'] as const) {
      it(`resubscribes after its last position when the server ${how} mid-subscription: no gap, no duplicate`, async () => {
        const server = await start();
        const store = open(server);
        await store.append('s', [event(1), event(2), event(3)]);
        const delivered: RecordedEvent[] = [];
        const all = firstValueFrom(
          store.subscribe().pipe(
            where((e) => {
              delivered.push(e);
              return true;
            }),
            take(9),
            toArray(),
          ),
        );
        await server.untilSubscriptions(1);
        if (how === 'restarted') {
          await server.kill();
          // Written while no subscription could be open: must still arrive.
          writeBehindTheStoresBack(server, 's', 4);
          writeBehindTheStoresBack(server, 't', 5);
          await server.restart();
        } else {
          server.dropSubscriptions(0);
          writeBehindTheStoresBack(server, 's', 4);
          writeBehindTheStoresBack(server, 't', 5);
        }
        await server.untilSubscriptions(1);
        await store.append('s', [event(6), event(7)]);
        await store.append('t', [event(8), event(9)]);
        const events = await all;
        expect(numbers(events)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        const positions = events.map((e) => e.globalPosition);
        expect([...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(positions);
        expect(new Set(positions).size).toBe(positions.length);
      });
    }

    it("the server's filtered subscription: checkpoints every window x multiplier records examined, then caught-up, then live", async () => {
      const server = await start();
      // Only this flavour's package: importing the other would break this one (see the server).
      const pkg = (
        flavour === 'eventstoredb'
          ? await import('@eventstore/db-client')
          : await import('@kurrent/kurrentdb-client')
      ) as typeof import('@eventstore/db-client');
      for (let i = 0; i < 5; i++) {
        server.log.writeRaw(`mine-${i}`, 'E', '{}');
        server.log.writeRaw(`other-${i}`, 'E', '{}');
      }
      const client = (
        flavour === 'eventstoredb'
          ? pkg.EventStoreDBClient
          : (pkg as unknown as { KurrentDBClient: typeof pkg.EventStoreDBClient }).KurrentDBClient
      ).connectionString(server.url());
      const seen: string[] = [];
      const subscription = client.subscribeToAll({
        fromPosition: pkg.START,
        filter: pkg.streamNameFilter({
          prefixes: ['mine-'],
          maxSearchWindow: 2,
          checkpointInterval: 2,
          checkpointReached: (_, position) => {
            seen.push(`checkpoint@${position.commit}`);
          },
        }),
      });
      subscription.on('data', (resolved) => seen.push(resolved.event?.streamId ?? '?'));
      await new Promise<void>((resolve) => subscription.on('caughtUp', () => resolve()));
      seen.push('caught-up');
      server.log.writeRaw('mine-live', 'E', '{}');
      await server.log.untilRevision('mine-live', 0n);
      await new Promise<void>((resolve) => {
        const check = () => (seen.includes('mine-live') ? resolve() : setImmediate(check));
        check();
      });
      await subscription.unsubscribe();
      await client.dispose();
      // 10 records examined in catch-up with a window of 2 x 2: checkpoints after the 4th and 8th.
      const at = (i: number) => `checkpoint@${server.log.all[i]?.position}`;
      expect(seen).toEqual([
        'mine-0',
        'mine-1',
        at(3),
        'mine-2',
        'mine-3',
        at(7),
        'mine-4',
        'caught-up',
        'mine-live',
      ]);
    });

    it('finds the node through gossip with a +discover connection string', async () => {
      const server = await start();
      const store = open(server);
      const discovering = createEventStoreDbEventStore({
        connectionString: server.url().replace('://', '+discover://'),
      });
      stores.push(discovering);
      await discovering.append('s', [event(1)]);
      expect(server.calls.get('Gossip.Read')).toBeGreaterThanOrEqual(1);
      expect(numbers(await store.readStream('s'))).toEqual([1]);
    });

    for (const batchAppend of [true, false]) {
      it(`passes a deleted stream's refusal on as the client's StreamDeletedError (${batchAppend ? 'BatchAppend' : 'Append'})`, async () => {
        const server = await start({ batchAppend });
        const store = open(server);
        await store.append('gone', [event(1)]);
        server.log.tombstone('gone');
        // Not mapped to an opledger error: opledger never deletes streams, so only another
        // tool can have; the client's own error (type 'stream-deleted') says what happened.
        await expect(store.append('gone', [event(2)])).rejects.toMatchObject({
          type: 'stream-deleted',
        });
        await expect(store.readStream('gone')).rejects.toMatchObject({ type: 'stream-deleted' });
        expect(server.log.revisionOf('gone')).toBe(0n);
      });
    }

    for (const batchAppend of [true, false]) {
      const path = batchAppend ? 'BatchAppend' : 'Append';
      it(`follows NotLeader to the leader it names, once (${path})`, async () => {
        const leader = await start({ batchAppend });
        const follower = await start({ batchAppend, log: leader.log });
        follower.faults.notLeader = { host: '127.0.0.1', port: leader.port };
        const store = open(follower);
        const result = await store.append('s', [event(1)], { expectedVersion: 'no_stream' });
        expect(result.nextExpectedRevision).toBe(0n);
        expect(leader.log.revisionOf('s')).toBe(0n);
        // The refused attempt wrote nothing: the event is there once.
        expect(numbers(await store.readStream('s'))).toEqual([1]);
        expect(follower.calls.get(path)).toBe(1);
        expect(leader.calls.get(path)).toBe(1);
      });

      it(`fails clearly when the leader it was sent to refuses too (${path})`, async () => {
        const first = await start({ batchAppend });
        const second = await start({ batchAppend, log: first.log });
        first.faults.notLeader = { host: '127.0.0.1', port: second.port };
        second.faults.notLeader = { host: '127.0.0.1', port: first.port };
        const store = open(first);
        const refused = store.append('s', [event(1)]);
        await expect(refused).rejects.toBeInstanceOf(NotLeaderError);
        await expect(refused).rejects.toMatchObject({
          code: 'NOT_LEADER',
          message: expect.stringContaining(`127.0.0.1:${first.port}`),
        });
        expect(first.log.revisionOf('s')).toBe(-1n);
      });
    }

    for (const [path, fault] of [
      ['Append', 'its gRPC deadline passes'],
      ['BatchAppend', 'the server times out committing it'],
    ] as const) {
      it(`does not retry an append when ${fault} (${path}): the outcome is unknown, an expected version tells`, async () => {
        const server = await start({ batchAppend: path === 'BatchAppend' });
        const store = open(server, '&defaultDeadline=300');
        await store.append('s', [event(1)]);
        // Append calls carry the client's deadline (300 ms); BatchAppend calls none, so there
        // the server's commit timeout (200 ms) answers.
        server.faults.appendDelayMs = 600;
        server.faults.commitTimeoutMs = path === 'BatchAppend' ? 200 : undefined;
        const error = await store
          .append('s', [event(2)], { expectedVersion: 0n })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AppendOutcomeUnknownError);
        expect(error).toMatchObject({ code: 'APPEND_OUTCOME_UNKNOWN' });
        expect(server.calls.get(path)).toBe(path === 'Append' ? 2 : 1);
        // It lands after the client gave up. Retrying with the same expected version is safe:
        // the conflict shows the first attempt was written.
        await server.log.untilRevision('s', 1n);
        server.faults.appendDelayMs = 0;
        await expect(store.append('s', [event(2)], { expectedVersion: 0n })).rejects.toMatchObject({
          code: 'CONCURRENCY_CONFLICT',
          actual: 1n,
        });
        expect(numbers(await store.readStream('s'))).toEqual([1, 2]);
      });
    }
  });
};
