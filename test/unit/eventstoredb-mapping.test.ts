import * as EventStoreDb from '@eventstore/db-client';
import * as KurrentDb from '@kurrent/kurrentdb-client';
import type { Observable, Subscription } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  conflictOf,
  dialects,
  eventStoreDbDialect,
  kurrentDbDialect,
  revisionOfClientState,
  toClientStreamState,
  type ClientPackage,
} from '../../src/adapters/eventstoredb/client-dialect.js';
import type { ClientReadAllOptions } from '../../src/adapters/eventstoredb/client-shape.js';
import {
  createEventStoreDbEventStore,
  EventStoreDbConfigError,
  SubscriptionDroppedError,
  UnsupportedServerError,
  type EventStoreDbEventStore,
} from '../../src/adapters/eventstoredb/index.js';
import {
  ConcurrencyError,
  InvalidEventError,
  InvalidStoreUrlError,
  StoreClosedError,
  StoredEventError,
} from '../../src/domain/errors.js';
import type { EventData, ExpectedVersion, RecordedEvent } from '../../src/domain/event-store.js';
import {
  createFakeClient,
  createFakeServer,
  packages,
  type FakeClient,
  type FakeServer,
  type Flavour,
  type StoredRecord,
} from './eventstoredb-fake-client.js';

const flavours = ['eventstoredb', 'kurrentdb'] as const satisfies readonly Flavour[];
const clientClass = {
  eventstoredb: EventStoreDb.EventStoreDBClient,
  kurrentdb: KurrentDb.KurrentDBClient,
} as const;
/** What each package calls appendToStream's expected version: written out, not taken from the adapter. */
const expectedOptionName = { eventstoredb: 'expectedRevision', kurrentdb: 'streamState' } as const;

const at = new Date('2026-03-02T10:00:00.000Z');
const event = (type: string, data: unknown = {}, metadata?: Record<string, unknown>): EventData =>
  metadata === undefined ? { type, version: 1, data } : { type, version: 1, data, metadata };

const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const rejection = async (attempt: Promise<unknown>): Promise<unknown> =>
  attempt.then(
    () => {
      throw new Error('Expected a rejection, but the call succeeded');
    },
    (error: unknown) => error,
  );

const record = (source: Observable<RecordedEvent>) => {
  const state = { events: [] as RecordedEvent[], error: undefined as unknown, completed: false };
  const subscription: Subscription = source.subscribe({
    next: (e) => state.events.push(e),
    error: (e: unknown) => {
      state.error = e;
    },
    complete: () => {
      state.completed = true;
    },
  });
  return { state, subscription };
};

const until = (predicate: () => boolean) =>
  vi.waitFor(() => expect(predicate()).toBe(true), { timeout: 2_000, interval: 1 });

/** The package as the adapter sees it, from the real package (so constants are the real ones). */
const loadPackage = (flavour: Flavour): Promise<ClientPackage> => dialects[flavour].load();

describe.each(flavours)('EventStoreDB adapter over a %s client', (flavour) => {
  const pkg = packages[flavour];
  const optionName = expectedOptionName[flavour];
  let server: FakeServer;
  let client: FakeClient;
  let store: EventStoreDbEventStore;

  beforeEach(() => {
    server = createFakeServer();
    client = createFakeClient(flavour, server);
    store = createEventStoreDbEventStore({ client, now: () => at });
  });

  afterEach(async () => {
    await store.close();
  });

  const recordOf = (stream: string, revision = 0): StoredRecord => {
    const found = server.streams.get(stream)?.[revision];
    if (!found) throw new Error(`No record ${stream}@${revision}`);
    return found;
  };

  describe('expected versions', () => {
    it("tells the client's own option name and constants, and nothing else", async () => {
      expect(store.flavour).toBe(flavour);
      const cases: [ExpectedVersion, unknown, boolean][] = [
        ['any', pkg.ANY, false],
        ['no_stream', pkg.NO_STREAM, false],
        [-1n, pkg.NO_STREAM, false],
        ['stream_exists', pkg.STREAM_EXISTS, true],
        [0n, 0n, true],
      ];
      for (const [i, [expectedVersion, sent, exists]] of cases.entries()) {
        if (exists) await store.append(`s-${i}`, [event('Before')]);
        await store.append(`s-${i}`, [event('E')], { expectedVersion });
        expect(client.appendCalls.at(-1)?.options).toStrictEqual({ [optionName]: sent });
      }
      expect(await store.append('s-9', [event('Default')])).toMatchObject({
        nextExpectedRevision: 0n,
      });
      expect(client.appendCalls.at(-1)?.options).toStrictEqual({ [optionName]: pkg.ANY });
    });

    it('translates both ways with the package constants', async () => {
      const loaded = await loadPackage(flavour);
      expect(toClientStreamState('no_stream', loaded)).toBe(pkg.NO_STREAM);
      expect(toClientStreamState('stream_exists', loaded)).toBe(pkg.STREAM_EXISTS);
      expect(toClientStreamState('any', loaded)).toBe(pkg.ANY);
      expect(toClientStreamState(-1n, loaded)).toBe(pkg.NO_STREAM);
      expect(toClientStreamState(7n, loaded)).toBe(7n);
      expect(revisionOfClientState(pkg.NO_STREAM, loaded)).toBe(-1n);
      expect(revisionOfClientState(7n, loaded)).toBe(7n);
      expect(revisionOfClientState(-1n, loaded)).toBe(-1n);
      expect(revisionOfClientState(undefined, loaded)).toBeUndefined();
      expect(dialects[flavour].appendOptions(3n)).toStrictEqual({ [optionName]: 3n });
    });
  });

  describe('conflicts', () => {
    it("reads the package's WrongExpectedVersionError, and no other error", async () => {
      const loaded = await loadPackage(flavour);
      const dialect = dialects[flavour];
      const error = (current: bigint | 'no_stream') =>
        new pkg.WrongExpectedVersionError(undefined, {
          streamName: 's',
          expected: pkg.STREAM_EXISTS,
          current,
        });
      expect(conflictOf(error(4n), dialect, loaded)).toEqual({ actual: 4n });
      expect(conflictOf(error(pkg.NO_STREAM), dialect, loaded)).toEqual({ actual: -1n });
      expect(conflictOf(new pkg.StreamNotFoundError(undefined, 's'), dialect, loaded)).toBe(
        undefined,
      );
      expect(conflictOf(new Error('boom'), dialect, loaded)).toBeUndefined();
    });

    it('becomes a ConcurrencyError with the actual revision, and writes nothing', async () => {
      await store.append('order-1', [event('Created'), event('Paid')]);
      const written = server.log.length;
      const conflict = await rejection(
        store.append('order-1', [event('Again')], { expectedVersion: 'no_stream' }),
      );
      expect(conflict).toBeInstanceOf(ConcurrencyError);
      expect(conflict).toMatchObject({
        code: 'CONCURRENCY_CONFLICT',
        stream: 'order-1',
        actual: 1n,
        expected: "'no_stream'",
      });
      const missing = await rejection(
        store.append('missing', [event('E')], { expectedVersion: 'stream_exists' }),
      );
      expect(missing).toMatchObject({ stream: 'missing', actual: -1n });
      expect(server.log).toHaveLength(written);
    });

    it('reads the actual revision when the client returns the conflict instead of throwing it', async () => {
      const lenient = createEventStoreDbEventStore({
        client: createFakeClient(flavour, server, { throwOnAppendFailure: false }),
      });
      await lenient.append('order-1', [event('A'), event('B'), event('C')]);
      const conflict = await rejection(
        lenient.append('order-1', [event('X')], { expectedVersion: 0n }),
      );
      // 6.2.1 reports nextExpectedRevision 1n here; the stream is really at 2n.
      expect(conflict).toBeInstanceOf(ConcurrencyError);
      expect((conflict as ConcurrencyError).actual).toBe(2n);
      await lenient.close();
    });

    it('checks a revision no stream can be at without sending anything', async () => {
      await store.append('order-1', [event('A')]);
      const calls = client.appendCalls.length;
      const conflict = await rejection(
        store.append('order-1', [event('X')], { expectedVersion: -5n }),
      );
      expect(conflict).toMatchObject({ actual: 0n, expected: 'revision -5' });
      expect(client.appendCalls).toHaveLength(calls);
    });

    it('checks an empty append against the stream as it is', async () => {
      const result = await store.append('order-1', [event('A'), event('B')]);
      expect(await store.append('order-1', [], { expectedVersion: 1n })).toEqual(result);
      expect(await rejection(store.append('order-1', [], { expectedVersion: 0n }))).toMatchObject({
        actual: 1n,
      });
      expect(await store.append('missing', [], { expectedVersion: 'no_stream' })).toEqual({
        nextExpectedRevision: -1n,
        lastPosition: result.lastPosition,
      });
    });
  });

  describe('encoding', () => {
    it('stores a JSON event whose metadata carries the schema version and the user metadata', async () => {
      const result = await store.append('order-1', [
        {
          type: 'Created',
          version: 3,
          data: { id: 'o-1', lines: [1, 2] },
          metadata: { trace: 't' },
        },
      ]);
      const stored = recordOf('order-1');
      expect(stored.isJson).toBe(true);
      expect(stored.type).toBe('Created');
      expect(JSON.parse(new TextDecoder().decode(stored.data))).toEqual({
        id: 'o-1',
        lines: [1, 2],
      });
      expect(JSON.parse(new TextDecoder().decode(stored.metadata))).toEqual({
        trace: 't',
        opledger: { version: 3, recordedAt: at.toISOString() },
      });
      // Built by the package's own jsonEvent().
      const sent = client.appendCalls.at(-1)?.events[0];
      const built = pkg.jsonEvent({
        type: 'Created',
        data: { id: 'o-1', lines: [1, 2] },
        metadata: { trace: 't', opledger: { version: 3, recordedAt: at.toISOString() } },
      });
      expect({ ...sent, id: '' }).toEqual({ ...built, id: '' });
      expect(result).toEqual({ nextExpectedRevision: 0n, lastPosition: stored.position });
    });

    it('reads back every field of RecordedEvent', async () => {
      await store.append('order-1', [
        { type: 'Created', version: 3, data: { id: 'o-1' }, metadata: { trace: 't' } },
        { type: 'Paid', version: 1, data: ['a', 1, null] },
      ]);
      const [first, second] = [recordOf('order-1', 0), recordOf('order-1', 1)];
      const expected: RecordedEvent[] = [
        {
          type: 'Created',
          version: 3,
          data: { id: 'o-1' },
          metadata: { trace: 't' },
          streamName: 'order-1',
          streamRevision: 0n,
          globalPosition: first.position,
          recordedAt: at,
        },
        {
          type: 'Paid',
          version: 1,
          data: ['a', 1, null],
          streamName: 'order-1',
          streamRevision: 1n,
          globalPosition: second.position,
          recordedAt: at,
        },
      ];
      const read = await store.readStream('order-1');
      expect(read).toStrictEqual(expected);
      expect(await store.readAll()).toStrictEqual(expected);
      // One position each, sparse and far above 1n: what EventStoreDB's log offsets look like.
      expect(second.position - first.position).toBeGreaterThan(1n);
      expect(first.position).toBeGreaterThan(1n);
    });

    it('reads the position of the last event written when the result leaves it out', async () => {
      const appendToStream = client.appendToStream.bind(client);
      client.appendToStream = async (...args) => ({
        ...(await appendToStream(...args)),
        position: undefined,
      });
      await store.append('order-1', [event('A')]);
      const result = await store.append('order-1', [event('B'), event('C')]);
      expect(result).toEqual({
        nextExpectedRevision: 2n,
        lastPosition: recordOf('order-1', 2).position,
      });
    });

    it('stores what was passed at the time of the call', async () => {
      const data = { list: [1] };
      const metadata: Record<string, unknown> = { tags: ['a'] };
      const pending = store.append('s', [{ type: 'T', version: 1, data, metadata }]);
      data.list.push(2);
      (metadata.tags as string[]).push('b');
      await pending;
      expect(await store.readStream('s')).toMatchObject([
        { data: { list: [1] }, metadata: { tags: ['a'] } },
      ]);
    });

    it('refuses what it could not read back, before writing anything', async () => {
      const refused = async (attempt: Promise<unknown>, problem: string) => {
        const error = await rejection(attempt);
        expect(error).toBeInstanceOf(InvalidEventError);
        expect((error as InvalidEventError).message).toContain(problem);
      };
      await refused(
        store.append('s', [{ type: 'T', version: 1, data: {}, metadata: { opledger: 1 } }]),
        "'opledger' is reserved",
      );
      await refused(store.append('s', [event('$Internal')]), "starting with '$'");
      await refused(store.append('$system', [event('T')]), "'$system' starts with '$'");
      await refused(store.append('s', [event('T', { n: 1n })]), 'cannot be stored as JSON');
      await refused(
        store.append('s', [{ type: 'T', version: 1, data: undefined }]),
        'not a JSON value',
      );
      await refused(store.append('s', [{ type: 'T', version: 1.5, data: {} }]), 'integer');
      expect(client.appendCalls).toEqual([]);
      expect(server.log).toEqual([]);
    });
  });

  describe('readStream', () => {
    beforeEach(async () => {
      await store.append('order-1', [event('E0'), event('E1')]);
      await store.append('other', [event('Other')]);
      await store.append('order-1', [event('E2'), event('E3'), event('E4')]);
    });

    const revisions = (events: RecordedEvent[]) => events.map((e) => e.streamRevision);

    it('returns [] for a missing stream, which the client reports by failing the iteration', async () => {
      const iterate = async () => {
        for await (const resolved of client.readStream('missing')) void resolved;
      };
      expect(await rejection(iterate())).toBeInstanceOf(pkg.StreamNotFoundError);
      expect(await store.readStream('missing')).toEqual([]);
      expect(await store.readStream('missing', { direction: 'backwards' })).toEqual([]);
      expect(await store.readStream('missing', { from: 0n, maxCount: 5 })).toEqual([]);
    });

    it('passes direction, from and maxCount to the client with its constants', async () => {
      expect(revisions(await store.readStream('order-1'))).toEqual([0n, 1n, 2n, 3n, 4n]);
      expect(client.readStreamCalls.at(-1)?.options).toStrictEqual({
        fromRevision: pkg.START,
        direction: pkg.FORWARDS,
      });
      expect(revisions(await store.readStream('order-1', { direction: 'backwards' }))).toEqual([
        4n,
        3n,
        2n,
        1n,
        0n,
      ]);
      expect(client.readStreamCalls.at(-1)?.options).toStrictEqual({
        fromRevision: pkg.END,
        direction: pkg.BACKWARDS,
      });
      expect(
        revisions(
          await store.readStream('order-1', { direction: 'backwards', from: 3n, maxCount: 2 }),
        ),
      ).toEqual([3n, 2n]);
      expect(client.readStreamCalls.at(-1)?.options).toStrictEqual({
        fromRevision: 3n,
        direction: pkg.BACKWARDS,
        maxCount: 2,
      });
      expect(revisions(await store.readStream('order-1', { from: 2n, maxCount: 2 }))).toEqual([
        2n,
        3n,
      ]);
      expect(await store.readStream('order-1', { maxCount: 0 })).toEqual([]);
      expect(revisions(await store.readStream('order-1', { from: -3n }))).toEqual([
        0n,
        1n,
        2n,
        3n,
        4n,
      ]);
    });

    it("never asks the server for '$' streams, which opledger does not write", async () => {
      const calls = client.readStreamCalls.length;
      expect(await store.readStream('$stats-127.0.0.1:2113')).toEqual([]);
      expect(client.readStreamCalls).toHaveLength(calls);
    });

    it('says which servers it needs when stream reads carry no positions', async () => {
      const old = createEventStoreDbEventStore({
        client: createFakeClient(flavour, server, { streamReadPositions: false }),
      });
      const error = await rejection(old.readStream('order-1'));
      expect(error).toBeInstanceOf(UnsupportedServerError);
      expect((error as UnsupportedServerError).code).toBe('UNSUPPORTED_SERVER');
      await old.close();
    });
  });

  describe('the global log', () => {
    it('skips system events and reports commit positions', async () => {
      server.writeSystemEvents();
      await store.append('a', [event('A0')]);
      server.writeSystemEvents();
      await store.append('b', [event('B0'), event('B1')]);
      server.writeSystemEvents();
      const all = await store.readAll();
      expect(all.map((e) => `${e.streamName}:${e.type}`)).toEqual(['a:A0', 'b:B0', 'b:B1']);
      expect(all.map((e) => e.globalPosition)).toEqual([
        recordOf('a').position,
        recordOf('b', 0).position,
        recordOf('b', 1).position,
      ]);
      expect(await store.headPosition()).toBe(recordOf('b', 1).position);
    });

    it('reads after a position, exclusive, including positions between events', async () => {
      for (let i = 0; i < 6; i++) {
        await store.append(`s-${i % 2}`, [event(`E${i}`)]);
        server.writeSystemEvents();
      }
      const all = await store.readAll();
      expect(all).toHaveLength(6);
      for (const e of all) {
        const later = all.filter((x) => x.globalPosition > e.globalPosition);
        expect(await store.readAll({ after: e.globalPosition })).toEqual(later);
        expect(await store.readAll({ after: e.globalPosition - 1n })).toEqual([e, ...later]);
      }
      expect(
        await store.readAll({ after: (all.at(-1) as RecordedEvent).globalPosition + 100n }),
      ).toEqual([]);
      expect(await store.readAll({ maxCount: 2 })).toEqual(all.slice(0, 2));
      expect(await store.readAll({ maxCount: 0 })).toEqual([]);
    });

    it('pages through a log longer than one read, system events in between', async () => {
      for (let batch = 0; batch < 7; batch++) {
        await store.append(
          `s-${batch % 3}`,
          Array.from({ length: 100 }, (_, k) => event('E', { batch, k })),
        );
        server.writeSystemEvents();
      }
      const all = await store.readAll();
      expect(all.map((e) => e.data)).toEqual(
        Array.from({ length: 700 }, (_, i) => ({ batch: Math.floor(i / 100), k: i % 100 })),
      );
      for (let i = 1; i < all.length; i++) {
        expect((all[i] as RecordedEvent).globalPosition).toBeGreaterThan(
          (all[i - 1] as RecordedEvent).globalPosition,
        );
      }
      expect(
        await store.readAll({ after: (all[299] as RecordedEvent).globalPosition, maxCount: 301 }),
      ).toEqual(all.slice(300, 601));
    });

    it('has head 0n when it holds nothing of its own', async () => {
      expect(await store.headPosition()).toBe(0n);
      server.writeSystemEvents();
      expect(await store.headPosition()).toBe(0n);
    });

    it('names the stream and position of an event written by someone else', async () => {
      await store.append('a', [event('A0')]);
      const foreign = server.writeRaw('orders', { type: 'OrderPlaced', data: '{"id":1}' });
      const error = await rejection(store.readAll());
      expect(error).toBeInstanceOf(StoredEventError);
      expect(error).toMatchObject({
        code: 'INVALID_STORED_EVENT',
        stream: 'orders',
        position: foreign.position,
        revision: 0n,
      });
      expect((error as Error).message).toContain(`position ${foreign.position}`);
    });
  });

  describe('unreadable stored events', () => {
    const cases: [
      string,
      { data: string | Uint8Array; metadata?: string | Uint8Array; isJson?: boolean },
      string,
    ][] = [
      [
        'binary data',
        { data: new Uint8Array([1, 2]), isJson: false, metadata: '{"opledger":{"version":1}}' },
        'binary',
      ],
      ['no metadata', { data: '{}' }, 'no metadata'],
      ['metadata that is not JSON', { data: '{}', metadata: 'not json' }, 'not a JSON object'],
      [
        'no schema version',
        { data: '{}', metadata: '{"trace":"t"}' },
        'no opledger schema version',
      ],
      [
        'a version that is not an integer',
        { data: '{}', metadata: '{"opledger":{"version":"1"}}' },
        'no opledger schema version',
      ],
    ];

    it.each(cases)(
      '%s is a StoredEventError naming stream and position',
      async (_, raw, problem) => {
        const stored = server.writeRaw('order-1', { type: 'Created', ...raw });
        for (const attempt of [store.readStream('order-1'), store.readAll()]) {
          const error = await rejection(attempt);
          expect(error).toBeInstanceOf(StoredEventError);
          expect(error).toMatchObject({
            code: 'INVALID_STORED_EVENT',
            stream: 'order-1',
            position: stored.position,
            revision: 0n,
          });
          expect((error as Error).message).toContain(problem);
          expect((error as Error).message).toContain("stream 'order-1'");
        }
      },
    );

    it('falls back to the server time for events without a stamp', async () => {
      const stored = server.writeRaw('order-1', {
        type: 'Created',
        data: '{}',
        metadata: '{"opledger":{"version":2}}',
      });
      expect(await store.readStream('order-1')).toMatchObject([
        { version: 2, recordedAt: stored.created },
      ]);
    });
  });

  describe('scope', () => {
    it('keeps stores with different prefixes apart on one server', async () => {
      const tenantA = createEventStoreDbEventStore({ client, scope: { streamPrefix: 'a/' } });
      const tenantB = createEventStoreDbEventStore({ client, scope: { streamPrefix: 'b/' } });
      await tenantA.append('order-1', [event('A')], { expectedVersion: 'no_stream' });
      await tenantB.append('order-1', [event('B')], { expectedVersion: 'no_stream' });
      server.writeRaw('elsewhere', { type: 'NotOpledger', data: '{}' });
      expect([...server.streams.keys()]).toEqual(['a/order-1', 'b/order-1', 'elsewhere']);
      expect(await tenantA.readStream('order-1')).toMatchObject([
        { type: 'A', streamName: 'order-1' },
      ]);
      expect(await tenantA.readAll()).toMatchObject([{ type: 'A', streamName: 'order-1' }]);
      expect(await tenantB.readAll()).toMatchObject([{ type: 'B', streamName: 'order-1' }]);
      expect(await tenantA.headPosition()).toBe(recordOf('a/order-1').position);

      const live = record(tenantA.subscribe());
      await until(() => live.state.events.length === 1);
      const sent = client.subscriptions.at(-1)?.options;
      expect(sent?.filter).toEqual(pkg.streamNameFilter({ prefixes: ['a/'] }));
      await tenantB.append('order-2', [event('B2')]);
      await tenantA.append('order-2', [event('A2')]);
      await until(() => live.state.events.length === 2);
      expect(live.state.events.map((e) => `${e.streamName}:${e.type}`)).toEqual([
        'order-1:A',
        'order-2:A2',
      ]);
      live.subscription.unsubscribe();
      await Promise.all([tenantA.close(), tenantB.close()]);
    });

    it('sees nothing of the log up to its starting position', async () => {
      await store.append('old', [event('Old')]);
      const scoped = createEventStoreDbEventStore({
        client,
        scope: { startAfter: recordOf('old').position },
      });
      expect(await scoped.readAll()).toEqual([]);
      expect(await scoped.headPosition()).toBe(0n);
      await scoped.append('new', [event('New')]);
      expect((await scoped.readAll()).map((e) => e.type)).toEqual(['New']);
      const live = record(scoped.subscribe());
      await until(() => live.state.events.length === 1);
      expect(live.state.events[0]?.type).toBe('New');
      live.subscription.unsubscribe();
      await scoped.close();
    });

    it('refuses a prefix that would make every stream a system stream', () => {
      expect(() =>
        createEventStoreDbEventStore({ client, scope: { streamPrefix: '$tenant-' } }),
      ).toThrow(EventStoreDbConfigError);
      expect(() => createEventStoreDbEventStore({ client, scope: { startAfter: -1n } })).toThrow(
        EventStoreDbConfigError,
      );
    });
  });

  describe('subscribe', () => {
    it('catches up then goes live, from the start, without system events', async () => {
      await store.append('a', [event('A0'), event('A1')]);
      server.writeSystemEvents();
      const live = record(store.subscribe());
      await until(() => live.state.events.length === 2);
      await store.append('b', [event('B0')]);
      server.writeSystemEvents();
      await store.append('a', [event('A2')]);
      await until(() => live.state.events.length === 4);
      expect(live.state.events).toEqual(await store.readAll());
      const options = client.subscriptions[0]?.options;
      expect(options?.fromPosition).toBe(pkg.START);
      expect(options?.filter).toEqual(pkg.excludeSystemEvents());
      live.subscription.unsubscribe();
    });

    it('starts after a position, exclusive', async () => {
      await store.append('a', [event('A0'), event('A1'), event('A2')]);
      const after = recordOf('a', 1).position;
      const live = record(store.subscribe({ after }));
      await store.append('a', [event('A3')]);
      await until(() => live.state.events.length === 2);
      expect(live.state.events.map((e) => e.type)).toEqual(['A2', 'A3']);
      expect(client.subscriptions[0]?.options.fromPosition).toEqual({
        commit: after,
        prepare: after,
      });
      live.subscription.unsubscribe();
    });

    it("with after: 'end', delivers every append that starts after subscribe() returned", async () => {
      await store.append('a', [event('Old')]);
      // A slow read of the head: without holding appends back, 'New' would be written first
      // and counted as old.
      const readAll = client.readAll.bind(client);
      client.readAll = (options?: ClientReadAllOptions) => {
        const pages = readAll(options);
        return (async function* () {
          await settle();
          yield* pages;
        })();
      };
      const live = record(store.subscribe({ after: 'end' }));
      await store.append('a', [event('New')]);
      await until(() => live.state.events.length === 1);
      await settle();
      expect(live.state.events.map((e) => e.type)).toEqual(['New']);
      live.subscription.unsubscribe();
    });

    it('unsubscribing stops the client subscription and delivery', async () => {
      const live = record(store.subscribe());
      await store.append('a', [event('One')]);
      await until(() => live.state.events.length === 1);
      live.subscription.unsubscribe();
      expect(client.subscriptions[0]?.unsubscribed).toBe(true);
      await store.append('a', [event('Two')]);
      await settle();
      expect(live.state.events.map((e) => e.type)).toEqual(['One']);
      // The client's stream closing after the cancel is not reported as a drop.
      expect(live.state.error).toBeUndefined();
    });

    it("propagates the client's errors and stops", async () => {
      const live = record(store.subscribe());
      await until(() => client.subscriptions.length === 1);
      const failure = new pkg.AccessDeniedError();
      client.subscriptions[0]?.emit('error', failure);
      expect(live.state.error).toBe(failure);
      expect(client.subscriptions[0]?.unsubscribed).toBe(true);
    });

    it('subscribes again after the last position it saw when the connection drops', async () => {
      const live = record(store.subscribe());
      await store.append('a', [event('One'), event('Two')]);
      await until(() => live.state.events.length === 2);
      const lastSeen = live.state.events[1]?.globalPosition;
      client.subscriptions[0]?.emit('error', new pkg.UnavailableError());
      await until(() => client.subscriptions.length === 2);
      expect(client.subscriptions[0]?.unsubscribed).toBe(true);
      expect(client.subscriptions[1]?.options.fromPosition).toEqual({
        commit: lastSeen,
        prepare: lastSeen,
      });
      await store.append('a', [event('Three')]);
      await until(() => live.state.events.length === 3);
      expect(live.state.events.map((e) => e.type)).toEqual(['One', 'Two', 'Three']);
      expect(live.state.error).toBeUndefined();
    });

    it('reports a subscription the server ended once it may not subscribe again', async () => {
      const once = createEventStoreDbEventStore({ client, maxResubscribes: 0 });
      const live = record(once.subscribe());
      await until(() => client.subscriptions.length === 1);
      client.subscriptions[0]?.emit('end');
      expect(live.state.error).toBeInstanceOf(SubscriptionDroppedError);
      expect((live.state.error as SubscriptionDroppedError).code).toBe('SUBSCRIPTION_DROPPED');
      await once.close();
    });

    it('fails on an event it cannot read instead of skipping it', async () => {
      const live = record(store.subscribe());
      await store.append('a', [event('Good')]);
      server.writeRaw('a', { type: 'Bad', data: '{}', metadata: '{"trace":"t"}' });
      await store.append('a', [event('After')]);
      await until(() => live.state.error !== undefined);
      expect(live.state.error).toBeInstanceOf(StoredEventError);
      expect(live.state.events.map((e) => e.type)).toEqual(['Good']);
      expect(client.subscriptions[0]?.unsubscribed).toBe(true);
    });
  });

  describe('close', () => {
    it('completes live subscriptions and stops their client subscriptions', async () => {
      const live = record(store.subscribe());
      const fromEnd = record(store.subscribe({ after: 'end' }));
      await until(() => client.subscriptions.length === 2);
      await store.close();
      expect(live.state).toMatchObject({ completed: true, error: undefined });
      expect(fromEnd.state).toMatchObject({ completed: true, error: undefined });
      expect(client.subscriptions.every((s) => s.unsubscribed)).toBe(true);
    });

    it('makes every later call fail with StoreClosedError, and leaves a client it was given open', async () => {
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
      for (const attempt of [
        store.append('a', [event('A')]),
        store.readStream('a'),
        store.readAll(),
        store.headPosition(),
      ]) {
        expect(await rejection(attempt)).toBeInstanceOf(StoreClosedError);
      }
      const late = record(store.subscribe());
      expect(late.state.error).toBeInstanceOf(StoreClosedError);
      expect(client.disposed).toBe(false);
    });

    it('opens a client from a connection string on first use and disposes it on close', async () => {
      const owned = createFakeClient(flavour, server);
      const open = vi
        .spyOn(clientClass[flavour], 'connectionString')
        .mockReturnValue(owned as never);
      try {
        const url =
          flavour === 'eventstoredb'
            ? 'esdb://localhost:2113?tls=false'
            : 'kurrentdb://localhost:2113?tls=false';
        const fromUrl = createEventStoreDbEventStore({ connectionString: url });
        expect(fromUrl.flavour).toBe(flavour);
        expect(open).not.toHaveBeenCalled();
        await fromUrl.append('a', [event('A')]);
        expect(open).toHaveBeenCalledWith(url);
        expect(owned.appendCalls).toHaveLength(1);
        await fromUrl.close();
        expect(owned.disposed).toBe(true);
        // Never used, so never opened: nothing to dispose.
        await createEventStoreDbEventStore({ connectionString: url }).close();
        expect(open).toHaveBeenCalledTimes(1);
      } finally {
        open.mockRestore();
      }
    });
  });
});

describe('which client package', () => {
  it('tells the packages apart from real client instances', async () => {
    const old = EventStoreDb.EventStoreDBClient.connectionString('esdb://localhost:2113?tls=false');
    const successor = KurrentDb.KurrentDBClient.connectionString(
      'kurrentdb://localhost:2113?tls=false',
    );
    try {
      expect(createEventStoreDbEventStore({ client: old }).flavour).toBe('eventstoredb');
      expect(createEventStoreDbEventStore({ client: successor }).flavour).toBe('kurrentdb');
    } finally {
      await Promise.all([old.dispose(), successor.dispose()]);
    }
  });

  it('lets an explicit flavour decide', async () => {
    const client = createFakeClient('eventstoredb');
    const store = createEventStoreDbEventStore({ client, flavour: 'kurrentdb' });
    expect(store.flavour).toBe('kurrentdb');
    await store.append('a', [event('A')], { expectedVersion: 'no_stream' });
    expect(client.appendCalls[0]?.options).toStrictEqual({ streamState: 'no_stream' });
  });

  it('picks the package from the connection string scheme', () => {
    const cases: [string, Flavour][] = [
      ['esdb://localhost:2113', 'eventstoredb'],
      ['esdb+discover://cluster.example:2113', 'eventstoredb'],
      ['kurrentdb://localhost:2113', 'kurrentdb'],
      ['kurrentdb+discover://cluster.example:2113', 'kurrentdb'],
      ['kurrent://localhost:2113', 'kurrentdb'],
      ['kdb://localhost:2113', 'kurrentdb'],
      ['KDB+DISCOVER://localhost:2113', 'kurrentdb'],
    ];
    for (const [connectionString, flavour] of cases) {
      expect(createEventStoreDbEventStore({ connectionString }).flavour, connectionString).toBe(
        flavour,
      );
    }
    // The successor still reads esdb:// strings.
    expect(
      createEventStoreDbEventStore({
        connectionString: 'esdb://localhost:2113',
        flavour: 'kurrentdb',
      }).flavour,
    ).toBe('kurrentdb');
  });

  it('refuses what it cannot connect with, without repeating passwords', () => {
    const error = (() => {
      try {
        createEventStoreDbEventStore({ connectionString: 'postgres://admin:secret@db:5432/x' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidStoreUrlError);
    expect((error as Error).message).not.toContain('secret');
    expect((error as Error).message).toContain('postgres://***@db:5432/x');
    expect(() =>
      createEventStoreDbEventStore({
        connectionString: 'kurrentdb://h:2113',
        flavour: 'eventstoredb',
      }),
    ).toThrow(EventStoreDbConfigError);
    expect(() => createEventStoreDbEventStore({} as never)).toThrow(EventStoreDbConfigError);
    expect(() => createEventStoreDbEventStore({ client: {} as never })).toThrow(
      EventStoreDbConfigError,
    );
  });

  it("reads each package's renamed WrongExpectedVersionError fields, and only its own", async () => {
    const old = new EventStoreDb.WrongExpectedVersionError(undefined, {
      streamName: 's',
      expected: EventStoreDb.NO_STREAM,
      current: 3n,
    });
    const successor = new KurrentDb.WrongExpectedVersionError(undefined, {
      streamName: 's',
      expected: KurrentDb.NO_STREAM,
      current: 3n,
    });
    expect(old).toMatchObject({ expectedVersion: 'no_stream', actualVersion: 3n });
    expect(successor).toMatchObject({ expectedState: 'no_stream', actualState: 3n });
    const [oldPackage, successorPackage] = await Promise.all([
      loadPackage('eventstoredb'),
      loadPackage('kurrentdb'),
    ]);
    expect(conflictOf(old, eventStoreDbDialect, oldPackage)).toEqual({ actual: 3n });
    expect(conflictOf(successor, kurrentDbDialect, successorPackage)).toEqual({ actual: 3n });
    // Read with the other package's names, the revision is lost (the store would then read it).
    expect(conflictOf(successor, eventStoreDbDialect, oldPackage)).toEqual({ actual: undefined });
    expect(conflictOf(old, kurrentDbDialect, successorPackage)).toEqual({ actual: undefined });
  });

  // A package that is not installed at all is proven in test/package (a real install without
  // it): vitest's mocks cannot make an import fail as Node does.
  it('reports a client package that fails to load for another reason as it is, not as missing', async () => {
    vi.resetModules();
    vi.doMock('@kurrent/kurrentdb-client', () => {
      throw new Error('native bridge: invalid ELF header');
    });
    try {
      const fresh = await import('../../src/adapters/eventstoredb/index.js');
      const store = fresh.createEventStoreDbEventStore({
        connectionString: 'kurrentdb://localhost:2113?tls=false',
      });
      const error = await rejection(store.readAll());
      expect(error).not.toBeInstanceOf(fresh.MissingClientPackageError);
      expect(String((error as Error).cause ?? error)).toContain('invalid ELF header');
    } finally {
      vi.doUnmock('@kurrent/kurrentdb-client');
      vi.resetModules();
    }
  });
});
