import { describe, expect, it } from 'vitest';
import { appendNowOf, readStreamNowOf, type EventStore } from '../../src/domain/event-store.js';
import {
  ConcurrencyError,
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  StoreClosedError,
} from '../../src/index.js';
import { createTelemetry } from '../../src/engine/telemetry/telemetry.js';
import { withTelemetry } from '../../src/engine/telemetry/with-telemetry.js';
import { createEventDecoder } from '../../src/domain/event-codec.js';
import { operationStreamName } from '../../src/domain/stream-names.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { request } from '../support/fixtures.js';
import { createRecordingTelemetry } from '../support/telemetry.js';

const event = (n: number) => ({ type: 'Noted', version: 1, data: { n } });

const deploy = defineOperation({
  type: 'deploy',
  steps: [
    step({ name: 'pull', kind: 'no_side_effects', run: () => ({ image: 'web:2' }) }),
    step({ name: 'start', run: () => undefined, undo: () => undefined }),
  ],
});

const engineOn = (store: EventStore) =>
  createEngine({
    store,
    operations: [deploy],
    clock: createVirtualClock(),
    ids: createSequentialIds('op-'),
    telemetry: false,
  });

describe("the in-memory store's synchronous append (appendNowOf)", () => {
  it('appends as append does, and refuses by throwing at once', async () => {
    const store = createInMemoryEventStore();
    const now = appendNowOf(store)!;
    expect(now).toBeTypeOf('function');
    const first = now('s-1', [event(1), event(2)], { expectedVersion: 'no_stream' });
    expect(first).toEqual({ nextExpectedRevision: 1n, lastPosition: 2n });
    const second = await store.append('s-1', [event(3)], { expectedVersion: 1n });
    expect(second).toEqual({ nextExpectedRevision: 2n, lastPosition: 3n });
    expect((await store.readStream('s-1')).map((e) => e.data)).toEqual([
      { n: 1 },
      { n: 2 },
      { n: 3 },
    ]);
    expect(() => now('s-1', [event(4)], { expectedVersion: 1n })).toThrow(ConcurrencyError);
    expect(await store.headPosition()).toBe(3n);
    await store.close();
    expect(() => now('s-1', [event(4)])).toThrow(StoreClosedError);
  });

  it('is not offered by a copy of the store, nor by one whose append was replaced', () => {
    const store = createInMemoryEventStore();
    expect(appendNowOf({ ...store })).toBeUndefined();
    store.append = async (stream, events, options) => {
      throw new Error(`not this time (${stream}, ${events.length}, ${String(options)})`);
    };
    expect(appendNowOf(store)).toBeUndefined();
  });
});

describe("the in-memory store's synchronous read (readStreamNowOf)", () => {
  it('reads as readStream does, forwards and backwards, each event with its own Date', async () => {
    const store = createInMemoryEventStore();
    await store.append('s-1', [event(1), event(2), event(3)]);
    const now = readStreamNowOf(store)!;
    for (const options of [
      undefined,
      { from: 1n },
      { from: 1n, maxCount: 1 },
      { direction: 'backwards' as const, maxCount: 2 },
    ]) {
      expect(now('s-1', options)).toEqual(await store.readStream('s-1', options));
    }
    const [a] = now('s-1')!;
    const [b] = now('s-1')!;
    expect(a!.recordedAt).not.toBe(b!.recordedAt);
    expect(now('none')).toEqual([]);
    await store.close();
    expect(() => now('s-1')).toThrow(StoreClosedError);
  });

  it('is not offered by a copy of the store, nor by one whose readStream was replaced', () => {
    const store = createInMemoryEventStore();
    expect(readStreamNowOf({ ...store })).toBeUndefined();
    const idle = withTelemetry(store, undefined, 'engine', createEventDecoder());
    expect(readStreamNowOf(idle)).toBe(readStreamNowOf(store));
    store.readStream = async () => [];
    expect(readStreamNowOf(store)).toBeUndefined();
  });

  it('lets an engine see a cancel written while its operation waited for the resource, through a replaced readStream too', async () => {
    for (const replaced of [false, true]) {
      const store = createInMemoryEventStore();
      const reads: string[] = [];
      if (replaced) {
        const read = store.readStream.bind(store);
        store.readStream = (stream, options) => {
          reads.push(stream);
          return read(stream, options);
        };
      }
      let release!: () => void;
      const held = new Promise<void>((go) => (release = go));
      const slow = defineOperation({
        type: 'deploy',
        steps: [step({ name: 'hold', kind: 'no_side_effects', run: () => held })],
      });
      const engine = engineOn(store);
      const other = createEngine({
        store,
        operations: [slow],
        clock: createVirtualClock(),
        ids: createSequentialIds('slow-'),
        telemetry: false,
      });
      const first = await other.start(request());
      const second = await engine.start(request());
      await engine.cancel(second.id, { user: 'ada@example.com' });
      release();
      expect((await first.result).status).toBe('succeeded');
      const result = await second.result;
      expect(result).toMatchObject({ status: 'failed', cancelled: true });
      if (replaced) expect(reads.length).toBeGreaterThan(0);
    }
  });
});

describe('an engine on a store whose append someone put something in front of', () => {
  it.each([
    ['a copy of the store with its own append', true],
    ['the store itself, its append replaced', false],
  ])('appends through it (%s): it is never bypassed', async (_, copy) => {
    const inner = createInMemoryEventStore();
    const seen: string[][] = [];
    const append = inner.append.bind(inner);
    const mine: EventStore['append'] = (stream, events, options) => {
      if (stream.startsWith(operationStreamName(''))) seen.push(events.map((e) => e.type));
      return append(stream, events, options);
    };
    let store: EventStore;
    if (copy) store = { ...inner, append: mine };
    else {
      inner.append = mine;
      store = inner;
    }
    const engine = engineOn(store);
    const result = await (await engine.start(request())).result;
    expect(result.status).toBe('succeeded');
    // Every operation event but the request (written with its queue place, atomically) went
    // through the replacement: nothing was appended behind its back.
    const written = seen.flat();
    expect(written).toEqual(
      (await inner.readStream(operationStreamName(result.id)))
        .map((e) => e.type)
        .filter((t) => t !== 'OperationRequested'),
    );
    expect(written.length).toBeGreaterThan(0);
  });

  it('appends synchronously on the store itself: the same events as through append', async () => {
    const direct = createInMemoryEventStore();
    const copied = createInMemoryEventStore();
    const through = { ...copied };
    for (const store of [direct, through]) {
      const engine = engineOn(store);
      const result = await (await engine.start(request())).result;
      expect(result.status).toBe('succeeded');
    }
    const shape = async (store: EventStore) =>
      (await store.readAll()).map((e) => [e.streamName, e.type, e.streamRevision, e.data]);
    expect(await shape(direct)).toEqual(await shape(copied));
  });
});

describe("the telemetry observer's synchronous append", () => {
  it('passes it on while nothing is recorded, and says "not now" for a write it observes', async () => {
    const store = createInMemoryEventStore();
    const idle = withTelemetry(store, undefined, 'engine', createEventDecoder());
    expect(appendNowOf(idle)).toBe(appendNowOf(store));
    const recording = createRecordingTelemetry();
    const telemetry = createTelemetry(recording.options);
    expect(telemetry?.isIdle()).toBe(false);
    const observed = withTelemetry(store, telemetry, 'engine', createEventDecoder());
    const now = appendNowOf(observed)!;
    expect(now).toBeTypeOf('function');
    // While spans and metrics are recorded: not now, and nothing written.
    expect(now(operationStreamName('op-1'), [event(2)])).toBeUndefined();
    expect(await store.headPosition()).toBe(0n);
  });
});
