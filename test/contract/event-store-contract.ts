import fc from 'fast-check';
import { Subscription, type Observable } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConcurrencyError, StoreClosedError } from '../../src/domain/errors.js';
import type {
  AppendResult,
  EventData,
  EventStore,
  ExpectedVersion,
  RecordedEvent,
} from '../../src/domain/event-store.js';

/**
 * The contract every event store adapter (memory, SQLite, PostgreSQL, EventStoreDB) must pass.
 *
 * `factory` must return a store that is EMPTY (it shows no events; with dense positions, global
 * positions start again at 1n) and not shared with any other test. After each test the suite
 * closes the store (close() must be idempotent) and then calls `teardown`, if any.
 *
 * Event data used here is JSON-compatible only (no undefined, -0, NaN, Date, Map or NUL
 * characters), so that stores which serialise to JSON/JSONB can pass it.
 */
export type EventStoreFactory = () => Promise<{
  store: EventStore;
  teardown?: () => Promise<void>;
}>;

export interface EventStoreContractOptions {
  /** When set, the whole suite is skipped and this reason printed (e.g. "no DATABASE_URL"). */
  skip?: string;
  /**
   * How the store numbers global positions. 'dense' (the default): an empty store starts at 1n.
   * 'increasing': positions only strictly increase from above 0n, as with EventStoreDB, where
   * they are offsets in a log the store may share with other streams. Only the checks of the
   * first position change; every ordering and equality check stays.
   */
  positions?: 'dense' | 'increasing';
  /**
   * Whether the store has `appendToStreams` (an atomic append to several streams). When true,
   * the store must have it and passes its part of the contract; when false, it must not
   * pretend to (callers then take the path of single appends).
   */
  appendToStreams?: boolean;
}

/** How long a test waits for a subscription to deliver something before failing loudly. */
const WAIT_MS = 5_000;

const event = (type: string, data: unknown = {}, metadata?: Record<string, unknown>): EventData =>
  metadata === undefined ? { type, version: 1, data } : { type, version: 1, data, metadata };

const nth = <T>(items: readonly T[], index: number): T => {
  const item = items[index];
  if (item === undefined) throw new Error(`Expected an item at index ${index} of ${items.length}`);
  return item;
};

const positions = (events: readonly RecordedEvent[]): bigint[] =>
  events.map((e) => e.globalPosition);
const revisions = (events: readonly RecordedEvent[]): bigint[] =>
  events.map((e) => e.streamRevision);
const types = (events: readonly RecordedEvent[]): string[] => events.map((e) => e.type);
const range = (n: number): bigint[] => Array.from({ length: n }, (_, i) => BigInt(i));

const expectStrictlyIncreasing = (values: readonly bigint[]): void => {
  for (let i = 1; i < values.length; i++) {
    const previous = nth(values, i - 1);
    const current = nth(values, i);
    if (current <= previous) {
      throw new Error(
        `Positions not strictly increasing at index ${i}: ${previous} then ${current}`,
      );
    }
  }
};

/** Lets pending microtasks and a few macrotask turns run (to catch late, unwanted deliveries). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const expectConcurrencyError = async (
  attempt: Promise<unknown>,
  stream: string,
  actual: bigint,
): Promise<ConcurrencyError> => {
  const error: unknown = await attempt.then(
    () => {
      throw new Error(`Expected a ConcurrencyError on '${stream}', but the append succeeded`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConcurrencyError);
  const conflict = error as ConcurrencyError;
  expect(conflict.code).toBe('CONCURRENCY_CONFLICT');
  expect(conflict.stream).toBe(stream);
  expect(conflict.actual).toBe(actual);
  expect(conflict.message).toContain(stream);
  return conflict;
};

const expectStoreClosed = async (attempt: Promise<unknown>): Promise<void> => {
  const error: unknown = await attempt.then(
    () => {
      throw new Error('Expected a StoreClosedError, but the call succeeded');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreClosedError);
  expect((error as StoreClosedError).code).toBe('STORE_CLOSED');
};

interface Recording {
  readonly events: RecordedEvent[];
  readonly completed: boolean;
  readonly error: unknown;
  readonly subscription: Subscription;
  /** Resolves once `predicate` holds; rejects on timeout, or if the stream ends before. */
  until(predicate: (r: Recording) => boolean, what: string): Promise<void>;
  untilCount(count: number): Promise<void>;
  untilPosition(position: bigint): Promise<void>;
}

/** Subscribes and records everything; `onEvent` runs inside the subscriber's `next`. */
const record = (
  source: Observable<RecordedEvent>,
  onEvent?: (event: RecordedEvent, recording: Recording) => void,
): Recording => {
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of [...waiters]) waiter();
  };
  const state = {
    events: [] as RecordedEvent[],
    completed: false,
    error: undefined as unknown,
    errored: false,
  };
  // Created first so that `onEvent` can unsubscribe even during a synchronous first delivery.
  const subscription = new Subscription();
  const recording: Recording = {
    get events() {
      return state.events;
    },
    get completed() {
      return state.completed;
    },
    get error() {
      return state.error;
    },
    subscription,
    until(predicate, what) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `Timed out after ${WAIT_MS} ms waiting for ${what}; received ${state.events.length} event(s), positions [${positions(state.events).slice(-10).join(', ')}]`,
            ),
          );
        }, WAIT_MS);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        const check = () => {
          if (predicate(recording)) {
            cleanup();
            resolve();
          } else if (state.errored) {
            cleanup();
            reject(
              new Error(`Subscription failed while waiting for ${what}`, { cause: state.error }),
            );
          } else if (state.completed) {
            cleanup();
            reject(new Error(`Subscription completed while waiting for ${what}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    untilCount(count) {
      return recording.until((r) => r.events.length >= count, `${count} event(s)`);
    },
    untilPosition(position) {
      return recording.until(
        (r) => r.events.some((e) => e.globalPosition === position),
        `the event at position ${position}`,
      );
    },
  };
  subscription.add(
    source.subscribe({
      next: (e) => {
        state.events.push(e);
        onEvent?.(e, recording);
        notify();
      },
      error: (error: unknown) => {
        state.errored = true;
        state.error = error;
        notify();
      },
      complete: () => {
        state.completed = true;
        notify();
      },
    }),
  );
  return recording;
};

/** Appends a marker event; once a subscriber has seen it, it has seen everything before it. */
const appendFence = async (store: EventStore): Promise<bigint> =>
  (await store.append('contract-fence', [event('Fence')])).lastPosition;

/** JSON-compatible payloads that every store can round-trip exactly. */
const payloadArb = fc.record({
  n: fc.integer({ min: -1_000_000, max: 1_000_000 }),
  s: fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\u0000')),
  flag: fc.boolean(),
  list: fc.array(fc.oneof(fc.integer(), fc.constant(null), fc.string()), { maxLength: 3 }),
});

export const describeEventStoreContract = (
  name: string,
  factory: EventStoreFactory,
  options: EventStoreContractOptions = {},
): void => {
  if (options.skip) {
    console.warn(`Skipping the event store contract for ${name}: ${options.skip}`);
  }

  const dense = (options.positions ?? 'dense') === 'dense';
  /** The position of the first event of an empty store. */
  const expectFirstPosition = (position: bigint | undefined): void => {
    if (dense) expect(position).toBe(1n);
    else expect(typeof position === 'bigint' && position > 0n, `position ${position}`).toBe(true);
  };

  describe.skipIf(Boolean(options.skip))(`event store contract: ${name}`, () => {
    let store: EventStore;
    let teardown: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, teardown } = await factory());
    });

    afterEach(async () => {
      try {
        await store.close();
      } finally {
        await teardown?.();
      }
    });

    /** A fresh store for each run of a property. */
    const withFreshStore = async (run: (s: EventStore) => Promise<void>): Promise<void> => {
      const fresh = await factory();
      try {
        await run(fresh.store);
      } finally {
        try {
          await fresh.store.close();
        } finally {
          await fresh.teardown?.();
        }
      }
    };

    describe('expected version', () => {
      it("'no_stream' creates a stream that does not exist yet", async () => {
        const result = await store.append('order-1', [event('Created')], {
          expectedVersion: 'no_stream',
        });
        expect(result.nextExpectedRevision).toBe(0n);
        expect(types(await store.readStream('order-1'))).toEqual(['Created']);
      });

      it("'no_stream' conflicts with an existing stream and writes nothing", async () => {
        await store.append('order-1', [event('Created'), event('Paid')]);
        const conflict = await expectConcurrencyError(
          store.append('order-1', [event('Created')], { expectedVersion: 'no_stream' }),
          'order-1',
          1n,
        );
        expect(conflict.expected).toContain('no_stream');
        expect(types(await store.readStream('order-1'))).toEqual(['Created', 'Paid']);
        expect(await store.readAll()).toHaveLength(2);
      });

      it("'stream_exists' appends to an existing stream", async () => {
        await store.append('order-1', [event('Created')]);
        const result = await store.append('order-1', [event('Paid')], {
          expectedVersion: 'stream_exists',
        });
        expect(result.nextExpectedRevision).toBe(1n);
        expect(types(await store.readStream('order-1'))).toEqual(['Created', 'Paid']);
      });

      it("'stream_exists' conflicts with a missing stream (actual -1n) and writes nothing", async () => {
        await store.append('other', [event('Unrelated')]);
        await expectConcurrencyError(
          store.append('order-1', [event('Paid')], { expectedVersion: 'stream_exists' }),
          'order-1',
          -1n,
        );
        expect(await store.readStream('order-1')).toEqual([]);
        expect(types(await store.readAll())).toEqual(['Unrelated']);
      });

      it("'any' appends whether or not the stream exists, and is the default", async () => {
        await store.append('order-1', [event('A')], { expectedVersion: 'any' });
        await store.append('order-1', [event('B')], { expectedVersion: 'any' });
        const result = await store.append('order-1', [event('C')]);
        expect(result.nextExpectedRevision).toBe(2n);
        expect(types(await store.readStream('order-1'))).toEqual(['A', 'B', 'C']);
      });

      it('an exact revision appends when it is the current revision', async () => {
        const first = await store.append('order-1', [event('A'), event('B')]);
        expect(first.nextExpectedRevision).toBe(1n);
        const second = await store.append('order-1', [event('C')], {
          expectedVersion: first.nextExpectedRevision,
        });
        expect(second.nextExpectedRevision).toBe(2n);
        const third = await store.append('order-1', [event('D')], {
          expectedVersion: second.nextExpectedRevision,
        });
        expect(third.nextExpectedRevision).toBe(3n);
        expect(types(await store.readStream('order-1'))).toEqual(['A', 'B', 'C', 'D']);
      });

      it('a stale exact revision conflicts with the actual revision and writes nothing', async () => {
        await store.append('order-1', [event('A'), event('B'), event('C')]);
        await expectConcurrencyError(
          store.append('order-1', [event('X'), event('Y')], { expectedVersion: 0n }),
          'order-1',
          2n,
        );
        expect(types(await store.readStream('order-1'))).toEqual(['A', 'B', 'C']);
        expect(await store.readAll()).toHaveLength(3);
      });

      it('an exact revision ahead of the stream conflicts', async () => {
        await store.append('order-1', [event('A')]);
        await expectConcurrencyError(
          store.append('order-1', [event('X')], { expectedVersion: 5n }),
          'order-1',
          0n,
        );
        await expectConcurrencyError(
          store.append('missing', [event('X')], { expectedVersion: 0n }),
          'missing',
          -1n,
        );
        expect(await store.readAll()).toHaveLength(1);
      });

      it('revision -1n means "no stream"', async () => {
        const created = await store.append('order-1', [event('A')], { expectedVersion: -1n });
        expect(created.nextExpectedRevision).toBe(0n);
        await expectConcurrencyError(
          store.append('order-1', [event('B')], { expectedVersion: -1n }),
          'order-1',
          0n,
        );
        expect(types(await store.readStream('order-1'))).toEqual(['A']);
      });

      it('a conflict leaves positions untouched for the next successful append', async () => {
        await store.append('a', [event('A')]);
        await expectConcurrencyError(
          store.append('a', [event('X'), event('Y'), event('Z')], { expectedVersion: 'no_stream' }),
          'a',
          0n,
        );
        await store.append('b', [event('B')]);
        const all = await store.readAll();
        expect(types(all)).toEqual(['A', 'B']);
        expectStrictlyIncreasing(positions(all));
        expect(revisions(await store.readStream('b'))).toEqual([0n]);
      });

      it('of concurrent appends expecting the same revision, exactly one wins', async () => {
        await store.append('order-1', [event('Created')]);
        const attempts = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) =>
            store.append('order-1', [event('Writer', { i }), event('Writer', { i })], {
              expectedVersion: 0n,
            }),
          ),
        );
        const winners = attempts.filter((a) => a.status === 'fulfilled');
        const losers = attempts.filter((a) => a.status === 'rejected');
        expect(winners).toHaveLength(1);
        expect(losers).toHaveLength(9);
        for (const loser of losers) {
          expect(loser.reason).toBeInstanceOf(ConcurrencyError);
          expect((loser.reason as ConcurrencyError).actual).toBe(2n);
        }
        const stream = await store.readStream('order-1');
        expect(revisions(stream)).toEqual(range(3));
        const winnerData = stream.slice(1).map((e) => e.data);
        expect(winnerData[0]).toEqual(winnerData[1]);
      });

      it("of concurrent 'no_stream' claims, exactly one wins", async () => {
        const attempts = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) =>
            store.append('claim-key-1', [event('Claimed', { i })], {
              expectedVersion: 'no_stream',
            }),
          ),
        );
        const winners = attempts.flatMap((a, i) => (a.status === 'fulfilled' ? [i] : []));
        expect(winners).toHaveLength(1);
        for (const a of attempts) {
          if (a.status === 'rejected') {
            expect(a.reason).toBeInstanceOf(ConcurrencyError);
            expect((a.reason as ConcurrencyError).actual).toBe(0n);
          }
        }
        const stream = await store.readStream('claim-key-1');
        expect(stream.map((e) => e.data)).toEqual([{ i: winners[0] }]);
      });

      it('property: acceptance matches a model of expected versions', async () => {
        const opArb = fc.record({
          stream: fc.constantFrom('s0', 's1', 's2'),
          expected: fc.oneof(
            fc.constantFrom<ExpectedVersion>('any', 'no_stream', 'stream_exists'),
            fc.integer({ min: -1, max: 3 }).map((n) => BigInt(n)),
          ),
          count: fc.integer({ min: 1, max: 3 }),
        });
        await fc.assert(
          fc.asyncProperty(fc.array(opArb, { maxLength: 15 }), async (ops) => {
            await withFreshStore(async (s) => {
              const model = new Map<string, bigint>();
              let total = 0;
              for (const op of ops) {
                const current = model.get(op.stream) ?? -1n;
                const accepts =
                  op.expected === 'any' ||
                  (op.expected === 'no_stream' && current === -1n) ||
                  (op.expected === 'stream_exists' && current !== -1n) ||
                  op.expected === current;
                const attempt = s.append(
                  op.stream,
                  Array.from({ length: op.count }, () => event('E')),
                  { expectedVersion: op.expected },
                );
                if (accepts) {
                  const result = await attempt;
                  model.set(op.stream, current + BigInt(op.count));
                  total += op.count;
                  expect(result.nextExpectedRevision).toBe(current + BigInt(op.count));
                } else {
                  await expectConcurrencyError(attempt, op.stream, current);
                }
              }
              for (const stream of ['s0', 's1', 's2']) {
                const revision = model.get(stream) ?? -1n;
                expect(revisions(await s.readStream(stream))).toEqual(range(Number(revision + 1n)));
              }
              expect(await s.readAll()).toHaveLength(total);
            });
          }),
          { numRuns: 100 },
        );
      });
    });

    describe('append', () => {
      it('records every field and starts revisions at 0n and positions at 1n', async () => {
        const result = await store.append('order-1', [
          {
            type: 'Created',
            version: 3,
            data: { id: 'o-1', lines: [1, 2] },
            metadata: { by: 'u' },
          },
        ]);
        expectFirstPosition(result.lastPosition);
        expect(result).toEqual({
          nextExpectedRevision: 0n,
          lastPosition: dense ? 1n : result.lastPosition,
        });
        const [recorded] = await store.readStream('order-1');
        expect(recorded).toMatchObject({
          type: 'Created',
          version: 3,
          data: { id: 'o-1', lines: [1, 2] },
          metadata: { by: 'u' },
          streamName: 'order-1',
          streamRevision: 0n,
          globalPosition: result.lastPosition,
        });
        expect(recorded?.recordedAt).toBeInstanceOf(Date);
        expect(Number.isNaN(recorded?.recordedAt.getTime())).toBe(false);
      });

      it('keeps revisions contiguous across appends of several sizes', async () => {
        const sizes = [1, 3, 2, 1, 4];
        const results: AppendResult[] = [];
        for (const [i, size] of sizes.entries()) {
          results.push(
            await store.append(
              'order-1',
              Array.from({ length: size }, (_, k) => event('E', { i, k })),
            ),
          );
        }
        expect(results.map((r) => r.nextExpectedRevision)).toEqual([0n, 3n, 5n, 6n, 10n]);
        const stream = await store.readStream('order-1');
        expect(revisions(stream)).toEqual(range(11));
        expectStrictlyIncreasing(positions(stream));
        expect(results.map((r) => r.lastPosition)).toEqual(
          [0, 3, 5, 6, 10].map((i) => nth(stream, i).globalPosition),
        );
      });

      it('appends several events at once, in order, and reports the last one', async () => {
        await store.append('other', [event('Before')]);
        const result = await store.append('order-1', [event('A'), event('B'), event('C')]);
        const stream = await store.readStream('order-1');
        expect(types(stream)).toEqual(['A', 'B', 'C']);
        expect(revisions(stream)).toEqual([0n, 1n, 2n]);
        expect(result.nextExpectedRevision).toBe(2n);
        expect(result.lastPosition).toBe(nth(stream, 2).globalPosition);
        expectStrictlyIncreasing([1n, ...positions(stream)]);
        expect(new Set(stream.map((e) => e.recordedAt.getTime())).size).toBe(1);
      });

      it('keeps a multi-event append contiguous in its stream despite concurrent writers', async () => {
        await Promise.all(
          Array.from({ length: 8 }, (_, batch) =>
            store.append(
              'shared',
              Array.from({ length: 5 }, (_, k) => event('E', { batch, k })),
            ),
          ),
        );
        const stream = await store.readStream('shared');
        expect(revisions(stream)).toEqual(range(40));
        for (let start = 0; start < 40; start += 5) {
          const batch = stream
            .slice(start, start + 5)
            .map((e) => e.data as { batch: number; k: number });
          expect(new Set(batch.map((d) => d.batch)).size).toBe(1);
          expect(batch.map((d) => d.k)).toEqual([0, 1, 2, 3, 4]);
        }
      });

      it('keeps streams apart: names are exact, case- and normalisation-sensitive', async () => {
        await store.append('Order', [event('Upper')], { expectedVersion: 'no_stream' });
        await store.append('order', [event('Lower')], { expectedVersion: 'no_stream' });
        await store.append('caf\u00e9', [event('Composed')], { expectedVersion: 'no_stream' });
        await store.append('cafe\u0301', [event('Decomposed')], { expectedVersion: 'no_stream' });
        await store.append('order ', [event('TrailingSpace')], { expectedVersion: 'no_stream' });
        expect(types(await store.readStream('Order'))).toEqual(['Upper']);
        expect(types(await store.readStream('order'))).toEqual(['Lower']);
        expect(types(await store.readStream('caf\u00e9'))).toEqual(['Composed']);
        expect(types(await store.readStream('cafe\u0301'))).toEqual(['Decomposed']);
        expect(types(await store.readStream('order '))).toEqual(['TrailingSpace']);
        expect(await store.readStream('ORDER')).toEqual([]);
      });
    });

    describe('readStream', () => {
      beforeEach(async () => {
        await store.append('order-1', [event('E0'), event('E1')]);
        await store.append('other', [event('Other')]);
        await store.append('order-1', [event('E2'), event('E3'), event('E4')]);
      });

      it('reads forwards by default, only the given stream', async () => {
        const stream = await store.readStream('order-1');
        expect(types(stream)).toEqual(['E0', 'E1', 'E2', 'E3', 'E4']);
        expect(revisions(stream)).toEqual(range(5));
        expect(stream.every((e) => e.streamName === 'order-1')).toBe(true);
        expectStrictlyIncreasing(positions(stream));
        expect(await store.readStream('order-1', { direction: 'forwards' })).toEqual(stream);
      });

      it('reads backwards from the last event', async () => {
        const forwards = await store.readStream('order-1');
        const backwards = await store.readStream('order-1', { direction: 'backwards' });
        expect(backwards).toEqual([...forwards].reverse());
      });

      it('reads forwards from a revision (inclusive)', async () => {
        expect(revisions(await store.readStream('order-1', { from: 2n }))).toEqual([2n, 3n, 4n]);
        expect(revisions(await store.readStream('order-1', { from: 4n }))).toEqual([4n]);
        expect(await store.readStream('order-1', { from: 5n })).toEqual([]);
      });

      it('reads backwards from a revision (inclusive)', async () => {
        expect(
          revisions(await store.readStream('order-1', { direction: 'backwards', from: 2n })),
        ).toEqual([2n, 1n, 0n]);
        expect(
          revisions(await store.readStream('order-1', { direction: 'backwards', from: 0n })),
        ).toEqual([0n]);
      });

      it('limits with maxCount in both directions', async () => {
        expect(revisions(await store.readStream('order-1', { maxCount: 2 }))).toEqual([0n, 1n]);
        expect(revisions(await store.readStream('order-1', { from: 3n, maxCount: 10 }))).toEqual([
          3n,
          4n,
        ]);
        expect(
          revisions(await store.readStream('order-1', { direction: 'backwards', maxCount: 2 })),
        ).toEqual([4n, 3n]);
        expect(
          revisions(
            await store.readStream('order-1', { direction: 'backwards', from: 3n, maxCount: 2 }),
          ),
        ).toEqual([3n, 2n]);
      });

      it('reads backwards from beyond the end as from the last event', async () => {
        expect(
          revisions(await store.readStream('order-1', { direction: 'backwards', from: 100n })),
        ).toEqual([4n, 3n, 2n, 1n, 0n]);
        expect(
          revisions(
            await store.readStream('order-1', { direction: 'backwards', from: 100n, maxCount: 2 }),
          ),
        ).toEqual([4n, 3n]);
      });

      it('returns [] for a missing stream, in both directions', async () => {
        expect(await store.readStream('missing')).toEqual([]);
        expect(await store.readStream('missing', { direction: 'backwards' })).toEqual([]);
        expect(await store.readStream('missing', { from: 0n, maxCount: 5 })).toEqual([]);
      });
    });

    describe('readAll', () => {
      it('returns [] for an empty store', async () => {
        expect(await store.readAll()).toEqual([]);
        expect(await store.readAll({ after: 0n, maxCount: 10 })).toEqual([]);
      });

      it('reads every stream in global order with strictly increasing positions from 1n', async () => {
        await store.append('a', [event('A0')]);
        await store.append('b', [event('B0'), event('B1')]);
        await store.append('a', [event('A1')]);
        await store.append('c', [event('C0')]);
        const all = await store.readAll();
        expect(types(all)).toEqual(['A0', 'B0', 'B1', 'A1', 'C0']);
        expect(all.map((e) => `${e.streamName}@${e.streamRevision}`)).toEqual([
          'a@0',
          'b@0',
          'b@1',
          'a@1',
          'c@0',
        ]);
        expectFirstPosition(nth(all, 0).globalPosition);
        expectStrictlyIncreasing(positions(all));
        for (const name of ['a', 'b', 'c']) {
          expect(await store.readStream(name)).toEqual(all.filter((e) => e.streamName === name));
        }
      });

      it('reads after a position (exclusive), and after the last one reads []', async () => {
        for (let i = 0; i < 6; i++) await store.append(`s-${i % 2}`, [event(`E${i}`)]);
        const all = await store.readAll();
        for (const e of all) {
          expect(await store.readAll({ after: e.globalPosition })).toEqual(
            all.filter((x) => x.globalPosition > e.globalPosition),
          );
        }
        expect(await store.readAll({ after: 0n })).toEqual(all);
        expect(
          await store.readAll({ after: nth(all, all.length - 1).globalPosition + 100n }),
        ).toEqual([]);
      });

      it('pages with maxCount and `after` to reproduce the full log', async () => {
        for (let i = 0; i < 10; i++) {
          await store.append(`s-${i % 3}`, [event(`E${i}a`), event(`E${i}b`)]);
        }
        const all = await store.readAll();
        expect(all).toHaveLength(20);
        for (const pageSize of [1, 3, 7, 20, 50]) {
          const pages: RecordedEvent[][] = [];
          let after = 0n;
          for (;;) {
            const page = await store.readAll({ after, maxCount: pageSize });
            if (page.length === 0) break;
            if (pages.length > all.length) throw new Error(`Paging by ${pageSize} never ends`);
            expect(page.length).toBeLessThanOrEqual(pageSize);
            pages.push(page);
            after = nth(page, page.length - 1).globalPosition;
          }
          expect(pages.flat()).toEqual(all);
          expect(pages.length).toBe(Math.ceil(20 / pageSize));
        }
        expect(await store.readAll({ maxCount: 4 })).toEqual(all.slice(0, 4));
      });

      it('property: readAll is the order appends took effect; readStream is readAll filtered', async () => {
        const opArb = fc.record({
          stream: fc.constantFrom('a', 'b', 'c', 'd'),
          events: fc.array(payloadArb, { minLength: 1, maxLength: 3 }),
        });
        await fc.assert(
          fc.asyncProperty(fc.array(opArb, { maxLength: 12 }), async (ops) => {
            await withFreshStore(async (s) => {
              for (const op of ops) {
                await s.append(
                  op.stream,
                  op.events.map((data) => event('P', data)),
                );
              }
              const all = await s.readAll();
              expect(all.map((e) => ({ stream: e.streamName, data: e.data }))).toEqual(
                ops.flatMap((op) => op.events.map((data) => ({ stream: op.stream, data }))),
              );
              expectStrictlyIncreasing(positions(all));
              if (all.length > 0) expectFirstPosition(nth(all, 0).globalPosition);
              for (const name of ['a', 'b', 'c', 'd']) {
                const stream = await s.readStream(name);
                const expected = all.filter((e) => e.streamName === name);
                expect(stream).toEqual(expected);
                expect(revisions(stream)).toEqual(range(expected.length));
              }
            });
          }),
          { numRuns: 100 },
        );
      });

      it('property: for any interleaving of concurrent writers the log stays consistent', async () => {
        const opArb = fc.record({
          stream: fc.constantFrom('a', 'b', 'c'),
          count: fc.integer({ min: 1, max: 3 }),
        });
        const writersArb = fc.array(fc.array(opArb, { minLength: 1, maxLength: 5 }), {
          minLength: 1,
          maxLength: 4,
        });
        await fc.assert(
          fc.asyncProperty(fc.scheduler(), writersArb, async (scheduler, writers) => {
            await withFreshStore(async (s) => {
              const results: { writer: number; op: number; result: AppendResult }[] = [];
              const running = writers.map(async (ops, writer) => {
                for (const [i, op] of ops.entries()) {
                  await scheduler.schedule(Promise.resolve(), `writer ${writer} op ${i}`);
                  const result = await s.append(
                    op.stream,
                    Array.from({ length: op.count }, (_, k) => event('W', { writer, op: i, k })),
                  );
                  results.push({ writer, op: i, result });
                }
              });
              await scheduler.waitFor(Promise.all(running));

              const all = await s.readAll();
              const expectedTotal = writers.flat().reduce((n, op) => n + op.count, 0);
              expect(all).toHaveLength(expectedTotal);
              expectStrictlyIncreasing(positions(all));
              const key = (d: unknown) => {
                const { writer, op, k } = d as { writer: number; op: number; k: number };
                return `${writer}/${op}/${k}`;
              };
              expect(new Set(all.map((e) => key(e.data))).size).toBe(expectedTotal);

              // Every writer's appends appear in its program order.
              for (const [writer, ops] of writers.entries()) {
                const mine = all
                  .map((e) => e.data as { writer: number; op: number; k: number })
                  .filter((d) => d.writer === writer);
                expect(mine).toEqual(
                  ops.flatMap((op, i) =>
                    range(op.count).map((k) => ({ writer, op: i, k: Number(k) })),
                  ),
                );
              }
              // Each append is contiguous in its stream and reported by its last event.
              const byKey = new Map(all.map((e) => [key(e.data), e]));
              for (const { writer, op, result } of results) {
                const { stream, count } = nth(nth(writers, writer), op);
                const batch = range(count).map((k) => byKey.get(`${writer}/${op}/${k}`));
                expect(batch.map((e) => e?.streamName)).toEqual(batch.map(() => stream));
                const first = nth(batch, 0)?.streamRevision ?? -1n;
                expect(batch.map((e) => e?.streamRevision)).toEqual(
                  range(count).map((k) => first + k),
                );
                expect(result.nextExpectedRevision).toBe(nth(batch, count - 1)?.streamRevision);
                expect(result.lastPosition).toBe(nth(batch, count - 1)?.globalPosition);
              }
              for (const name of ['a', 'b', 'c']) {
                const stream = await s.readStream(name);
                const expected = all.filter((e) => e.streamName === name);
                expect(stream).toEqual(expected);
                expect(revisions(stream)).toEqual(range(expected.length));
              }
            });
          }),
          { numRuns: 100 },
        );
      });
    });

    describe('headPosition', () => {
      it('is 0n for an empty store, then the position of the last event written', async () => {
        expect(await store.headPosition()).toBe(0n);
        const first = await store.append('a', [event('A0'), event('A1')]);
        expect(await store.headPosition()).toBe(first.lastPosition);
        await store.append('b', [event('B0')]);
        const all = await store.readAll();
        expect(await store.headPosition()).toBe(nth(all, all.length - 1).globalPosition);
      });

      it('does not move on a conflicting append', async () => {
        const { lastPosition } = await store.append('a', [event('A0')]);
        await expectConcurrencyError(
          store.append('a', [event('X'), event('Y')], { expectedVersion: 'no_stream' }),
          'a',
          0n,
        );
        expect(await store.headPosition()).toBe(lastPosition);
      });

      it('tells a subscriber after which position it is caught up', async () => {
        for (let i = 0; i < 5; i++) await store.append(`s-${i % 2}`, [event(`E${i}`)]);
        const head = await store.headPosition();
        const recording = record(store.subscribe());
        await recording.untilPosition(head);
        expect(recording.events).toEqual(await store.readAll());
        recording.subscription.unsubscribe();
      });
    });

    describe('types (reading only some kinds of event)', () => {
      const kept = ['Keep', 'Fence'];
      const isKept = (e: RecordedEvent) => kept.includes(e.type);

      it('readAll with types returns exactly the events of those types, paged by maxCount', async () => {
        for (let i = 0; i < 12; i++) {
          await store.append(`s-${i % 3}`, [event(i % 3 === 0 ? 'Keep' : 'Skip', { i })]);
        }
        await store.append('s-0', [event('Skip'), event('Keep', { i: 12 }), event('Skip')]);
        const all = await store.readAll();
        const wanted = all.filter(isKept);
        expect(wanted).toHaveLength(5);
        expect(await store.readAll({ types: kept })).toEqual(wanted);
        expect(await store.readAll({ types: [] })).toEqual([]);
        expect(await store.readAll({ types: ['Keep', 'Skip'] })).toEqual(all);
        const third = nth(all, 2).globalPosition;
        expect(await store.readAll({ after: third, types: kept })).toEqual(
          wanted.filter((e) => e.globalPosition > third),
        );
        for (const pageSize of [1, 2, 4]) {
          const pages: RecordedEvent[] = [];
          let after = 0n;
          for (;;) {
            const page = await store.readAll({ after, maxCount: pageSize, types: kept });
            expect(page.length).toBeLessThanOrEqual(pageSize);
            pages.push(...page);
            if (page.length < pageSize) break;
            after = nth(page, page.length - 1).globalPosition;
          }
          expect(pages).toEqual(wanted);
        }
      });

      it('subscribe with types delivers only those, caught up then live, across runs of others', async () => {
        await store.append('a', [event('Skip'), event('Keep', { n: 0 }), event('Skip')]);
        const recording = record(store.subscribe({ types: kept }));
        await recording.untilCount(1);
        // Long runs of left-out events between kept ones: none may be lost behind them.
        for (let n = 1; n <= 4; n++) {
          for (let k = 0; k < n * 3; k++) await store.append(`b-${k % 2}`, [event('Skip')]);
          await store.append('a', [event('Keep', { n })]);
          await recording.untilCount(n + 1);
        }
        const fence = await appendFence(store);
        await recording.untilPosition(fence);
        expect(recording.events).toEqual(await store.readAll({ types: kept }));
        expect(recording.events.every(isKept)).toBe(true);
        recording.subscription.unsubscribe();
      });

      it('subscribe with types misses nothing while writers race (catch-up then live)', async () => {
        await store.append('w-0', [event('Keep'), event('Skip')]);
        const recording = record(store.subscribe({ after: 0n, types: kept }));
        await Promise.all(
          Array.from({ length: 6 }, async (_, w) => {
            for (let i = 0; i < 8; i++) {
              await store.append(`w-${w}`, [event((w + i) % 3 === 0 ? 'Keep' : 'Skip', { w, i })]);
            }
          }),
        );
        const fence = await appendFence(store);
        await recording.untilPosition(fence);
        const wanted = await store.readAll({ types: kept });
        expect(recording.events).toEqual(wanted);
        expect(recording.events.length).toBeGreaterThan(16);
        recording.subscription.unsubscribe();
      });

      it('property: subscribe({ after, types }) is readAll({ after }) filtered by type', async () => {
        const opArb = fc.record({
          stream: fc.constantFrom('a', 'b', 'c'),
          types: fc.array(fc.constantFrom('T1', 'T2', 'T3'), { minLength: 1, maxLength: 3 }),
        });
        await fc.assert(
          fc.asyncProperty(
            fc.array(opArb, { maxLength: 10 }),
            fc.array(opArb, { maxLength: 10 }),
            fc.subarray(['T1', 'T2', 'T3']),
            fc.nat({ max: 12 }),
            async (before, after, chosen, skip) => {
              await withFreshStore(async (s) => {
                for (const op of before)
                  await s.append(
                    op.stream,
                    op.types.map((t) => event(t)),
                  );
                const old = await s.readAll();
                const from = skip < old.length ? nth(old, skip).globalPosition : 0n;
                const wanted = [...chosen, 'Fence'];
                const recording = record(s.subscribe({ after: from, types: wanted }));
                for (const op of after)
                  await s.append(
                    op.stream,
                    op.types.map((t) => event(t)),
                  );
                const fence = await appendFence(s);
                await recording.untilPosition(fence);
                const all = await s.readAll({ after: from });
                expect(recording.events).toEqual(all.filter((e) => wanted.includes(e.type)));
                expect(await s.readAll({ after: from, types: wanted })).toEqual(recording.events);
                recording.subscription.unsubscribe();
              });
            },
          ),
          { numRuns: 25 },
        );
      });
    });

    describe('subscribe', () => {
      it('catches up from the start, then delivers live events', async () => {
        await store.append('a', [event('A0'), event('A1')]);
        await store.append('b', [event('B0')]);
        const recording = record(store.subscribe());
        await recording.untilCount(3);
        expect(types(recording.events)).toEqual(['A0', 'A1', 'B0']);

        await store.append('a', [event('A2')]);
        await store.append('c', [event('C0'), event('C1')]);
        await recording.untilCount(6);
        const fence = await appendFence(store);
        await recording.untilPosition(fence);
        expect(recording.events).toEqual(await store.readAll());
        expect(recording.completed).toBe(false);
        recording.subscription.unsubscribe();
      });

      it('subscribing to an empty store delivers live events from position 1n', async () => {
        const recording = record(store.subscribe({ after: 0n }));
        const { lastPosition } = await store.append('a', [event('First')]);
        await recording.untilCount(1);
        expectFirstPosition(lastPosition);
        expect(nth(recording.events, 0)).toMatchObject({
          type: 'First',
          globalPosition: lastPosition,
        });
        recording.subscription.unsubscribe();
      });

      it('starts after a position (exclusive)', async () => {
        await store.append('a', [event('A0'), event('A1'), event('A2'), event('A3')]);
        const all = await store.readAll();
        const after = nth(all, 1).globalPosition;
        const recording = record(store.subscribe({ after }));
        await store.append('b', [event('B0')]);
        const fence = await appendFence(store);
        await recording.untilPosition(fence);
        expect(types(recording.events)).toEqual(['A2', 'A3', 'B0', 'Fence']);
        expect(recording.events).toEqual(await store.readAll({ after }));
        recording.subscription.unsubscribe();
      });

      it("with after: 'end' delivers only events appended from now on", async () => {
        await store.append('a', [event('Old0'), event('Old1')]);
        const before = await store.readAll();
        const lastOld = nth(before, before.length - 1).globalPosition;
        const recording = record(store.subscribe({ after: 'end' }));
        await store.append('a', [event('New0')]);
        await store.append('b', [event('New1')]);
        const fence = await appendFence(store);
        await recording.untilPosition(fence);
        expect(types(recording.events)).toEqual(['New0', 'New1', 'Fence']);
        expect(recording.events).toEqual(await store.readAll({ after: lastOld }));
        recording.subscription.unsubscribe();
      });

      it('delivers events equal to what readAll returns', async () => {
        const recording = record(store.subscribe());
        await store.append('order-1', [
          {
            type: 'Created',
            version: 2,
            data: { id: 'o-1', nested: { n: [1, 'x', null] } },
            metadata: { trace: 't-1' },
          },
        ]);
        await recording.untilCount(1);
        expect(recording.events).toEqual(await store.readAll());
        expectFirstPosition(nth(recording.events, 0).globalPosition);
        expect(nth(recording.events, 0)).toMatchObject({
          type: 'Created',
          version: 2,
          data: { id: 'o-1', nested: { n: [1, 'x', null] } },
          metadata: { trace: 't-1' },
          streamName: 'order-1',
          streamRevision: 0n,
        });
        recording.subscription.unsubscribe();
      });

      it('has no gap and no duplicate while several writers append concurrently', async () => {
        await store.append('seed', [event('Seed0'), event('Seed1')]);
        const fromStart = record(store.subscribe());
        const writers = Promise.all(
          Array.from({ length: 4 }, async (_, writer) => {
            for (let i = 0; i < 40; i++) {
              const stream = i % 3 === 0 ? 'shared' : `writer-${writer}-${i % 4}`;
              await store.append(
                stream,
                Array.from({ length: 1 + (i % 3) }, (_, k) => event('Written', { writer, i, k })),
              );
              if (i % 5 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
            }
          }),
        );
        // Join while the writers are still going: one catching up from the start, one live only.
        await fromStart.untilCount(30);
        const lateCatchUp = record(store.subscribe({ after: 0n }));
        const liveOnly = record(store.subscribe({ after: 'end' }));
        await writers;
        const fence = await appendFence(store);
        await Promise.all([fromStart, lateCatchUp, liveOnly].map((r) => r.untilPosition(fence)));
        await settle();

        const all = await store.readAll();
        expect(all).toHaveLength(2 + 4 * (14 * 1 + 13 * 2 + 13 * 3) + 1);
        expectStrictlyIncreasing(positions(all));
        expect(fromStart.events).toEqual(all);
        expect(lateCatchUp.events).toEqual(all);
        // The live-only subscriber sees an unbroken suffix of the log, ending with the fence.
        const firstLive = all.findIndex(
          (e) => e.globalPosition === nth(liveOnly.events, 0).globalPosition,
        );
        expect(firstLive).toBeGreaterThanOrEqual(2);
        expect(liveOnly.events).toEqual(all.slice(firstLive));
        for (const r of [fromStart, lateCatchUp, liveOnly]) r.subscription.unsubscribe();
      });

      it('serves several subscribers at once, each in global order', async () => {
        await store.append('a', [event('A0')]);
        const recordings = Array.from({ length: 5 }, () => record(store.subscribe()));
        for (let i = 0; i < 10; i++) await store.append(`s-${i % 3}`, [event(`E${i}`)]);
        const fence = await appendFence(store);
        await Promise.all(recordings.map((r) => r.untilPosition(fence)));
        const all = await store.readAll();
        for (const r of recordings) expect(r.events).toEqual(all);
        for (const r of recordings) r.subscription.unsubscribe();
      });

      it('stops delivering after unsubscribe', async () => {
        const stopped = record(store.subscribe());
        const control = record(store.subscribe());
        await store.append('a', [event('One')]);
        await Promise.all([stopped.untilCount(1), control.untilCount(1)]);
        stopped.subscription.unsubscribe();
        await store.append('a', [event('Two'), event('Three')]);
        const fence = await appendFence(store);
        await control.untilPosition(fence);
        await settle();
        expect(types(stopped.events)).toEqual(['One']);
        expect(types(control.events)).toEqual(['One', 'Two', 'Three', 'Fence']);
        control.subscription.unsubscribe();
      });

      it('stops delivering when unsubscribed during catch-up', async () => {
        await store.append('a', [event('E0'), event('E1'), event('E2'), event('E3'), event('E4')]);
        const stopped = record(store.subscribe(), (_, r) => {
          if (r.events.length === 2) r.subscription.unsubscribe();
        });
        const control = record(store.subscribe());
        const fence = await appendFence(store);
        await control.untilPosition(fence);
        // Its catch-up runs on its own schedule (a pooled query on PostgreSQL): wait for the two
        // events it must get, then make sure nothing more arrives.
        await stopped.untilCount(2);
        await settle();
        expect(types(stopped.events)).toEqual(['E0', 'E1']);
        control.subscription.unsubscribe();
      });

      it('keeps global order when a subscriber appends while handling an event', async () => {
        const reactions: Promise<AppendResult>[] = [];
        const reactor = record(store.subscribe(), (e) => {
          if (e.type === 'Ping') {
            reactions.push(
              store.append('pongs', [event('Pong', { to: String(e.globalPosition) })]),
            );
          }
        });
        const observer = record(store.subscribe());
        await store.append('pings', [event('Ping'), event('Ping'), event('Ping')]);
        await reactor.until(
          (r) => r.events.filter((e) => e.type === 'Pong').length === 3,
          'three Pong events',
        );
        await Promise.all(reactions);
        const fence = await appendFence(store);
        await Promise.all([reactor.untilPosition(fence), observer.untilPosition(fence)]);
        await settle();

        const all = await store.readAll();
        expect(types(all)).toEqual(['Ping', 'Ping', 'Ping', 'Pong', 'Pong', 'Pong', 'Fence']);
        expectStrictlyIncreasing(positions(all));
        expect(reactor.events).toEqual(all);
        expect(observer.events).toEqual(all);
        reactor.subscription.unsubscribe();
        observer.subscription.unsubscribe();
      });
    });

    describe('payloads', () => {
      it('round-trips a 1 MB event exactly', async () => {
        const big = 'x'.repeat(1024 * 1024 - 16) + 'é🚀漢字-the-end';
        const data = { big, list: Array.from({ length: 1000 }, (_, i) => i) };
        const recording = record(store.subscribe());
        await store.append('large', [event('Large', data), event('Small', { ok: true })]);
        const [read] = await store.readStream('large');
        expect((read?.data as { big: string }).big.length).toBe(big.length);
        expect(read?.data).toEqual(data);
        expect(nth(await store.readAll(), 0).data).toEqual(data);
        await recording.untilCount(2);
        expect(nth(recording.events, 0).data).toEqual(data);
        recording.subscription.unsubscribe();
      });

      it('round-trips unicode in stream names, types, data and metadata', async () => {
        const stream = 'opération/日本語-🚀-שלום-مرحبا-👩‍👩‍👧‍👦';
        const data = {
          emoji: '😀👍🏽👩‍💻🇫🇷',
          rtl: 'שלום עולם — مرحبا بالعالم',
          cjk: '漢字かなカナ한국어中文',
          combining: 'e\u0301 a\u0308',
          astral: '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎',
          escapes: 'quote " backslash \\ newline \n tab \t',
          'ключ-🔑': 'значение',
          list: ['🚀', 'ñ', '\u200f'],
        };
        const metadata = { 'trace-🔍': 'абв', user: '用户' };
        await store.append(stream, [{ type: 'Événement🚀', version: 1, data, metadata }]);
        const [read] = await store.readStream(stream);
        expect(read).toMatchObject({ streamName: stream, type: 'Événement🚀', data, metadata });
        const [fromAll] = await store.readAll();
        expect(fromAll?.streamName).toBe(stream);
        expect(fromAll?.data).toEqual(data);
        await store.append(stream, [event('Second')], { expectedVersion: 0n });
        expect(revisions(await store.readStream(stream))).toEqual([0n, 1n]);
      });

      it('handles many streams (2,000)', async () => {
        const count = 2_000;
        const name = (i: number) => `stream-${String(i).padStart(4, '0')}`;
        for (let i = 0; i < count; i++) {
          await store.append(name(i), [event('Created', { i })], { expectedVersion: 'no_stream' });
        }
        await store.append(name(1234), [event('Updated', { i: 1234 })], { expectedVersion: 0n });
        const all = await store.readAll();
        expect(all).toHaveLength(count + 1);
        expect(new Set(all.map((e) => e.streamName)).size).toBe(count);
        expectStrictlyIncreasing(positions(all));
        const streams = await Promise.all(
          Array.from({ length: count }, (_, i) => store.readStream(name(i))),
        );
        streams.forEach((stream, i) => {
          expect(stream.map((e) => [e.streamName, e.streamRevision, e.data])).toEqual(
            i === 1234
              ? [
                  [name(i), 0n, { i }],
                  [name(i), 1n, { i }],
                ]
              : [[name(i), 0n, { i }]],
          );
        });
      });
    });

    describe('isolation of stored data', () => {
      const original = () => ({ nested: { list: [1, 2, 3], label: 'kept' }, top: 'kept' });

      it('is not changed by mutating what was passed to append', async () => {
        const data = original();
        const metadata: Record<string, unknown> = { tags: ['a'] };
        const events: EventData[] = [{ type: 'T', version: 1, data, metadata }];
        await store.append('s', events);
        data.nested.list.push(4);
        data.nested.label = 'changed';
        data.top = 'changed';
        (metadata.tags as string[]).push('b');
        metadata.extra = true;
        (events[0] as EventData).type = 'Changed';
        const [read] = await store.readStream('s');
        expect(read).toMatchObject({ type: 'T', data: original(), metadata: { tags: ['a'] } });
        expect(read?.metadata).not.toHaveProperty('extra');
      });

      it('is not changed by mutating what a read returned (frozen or copied)', async () => {
        await store.append('s', [
          { type: 'T', version: 1, data: original(), metadata: { tags: ['a'] } },
        ]);
        const first = await store.readStream('s');
        const at = nth(first, 0).recordedAt.getTime();
        const position = nth(first, 0).globalPosition;
        expectFirstPosition(position);
        const attempt = (mutate: () => void) => {
          try {
            mutate();
          } catch {
            // A frozen object refusing the change is fine.
          }
        };
        const e = nth(first, 0) as unknown as Record<string, unknown> & {
          data: ReturnType<typeof original>;
          metadata: { tags: string[] };
          recordedAt: Date;
        };
        attempt(() => e.data.nested.list.push(99));
        attempt(() => (e.data.nested.label = 'changed'));
        attempt(() => (e.data.top = 'changed'));
        attempt(() => e.metadata.tags.push('b'));
        attempt(() => (e.type = 'Changed'));
        attempt(() => (e.streamRevision = 42n));
        attempt(() => (e.globalPosition = 42n));
        attempt(() => e.recordedAt.setTime(0));
        attempt(() => first.push(nth(first, 0)));
        attempt(() => first.reverse());

        for (const read of [await store.readStream('s'), await store.readAll()]) {
          expect(read).toHaveLength(1);
          expect(nth(read, 0)).toMatchObject({
            type: 'T',
            data: original(),
            metadata: { tags: ['a'] },
            streamRevision: 0n,
            globalPosition: position,
          });
          expect(nth(read, 0).recordedAt.getTime()).toBe(at);
        }
      });

      it('is not changed by mutating what a subscription delivered', async () => {
        const first = record(store.subscribe(), (e) => {
          try {
            (e.data as ReturnType<typeof original>).nested.list.push(99);
            (e.data as ReturnType<typeof original>).top = 'changed';
          } catch {
            // Frozen: fine.
          }
          try {
            e.recordedAt.setTime(0);
          } catch {
            // Frozen: fine.
          }
        });
        const second = record(store.subscribe());
        await store.append('s', [event('T', original())]);
        await Promise.all([first.untilCount(1), second.untilCount(1)]);
        expect(nth(second.events, 0).data).toEqual(original());
        expect(nth(second.events, 0).recordedAt.getTime()).not.toBe(0);
        const [read] = await store.readStream('s');
        expect(read?.data).toEqual(original());
        expect(read?.recordedAt.getTime()).not.toBe(0);
        first.subscription.unsubscribe();
        second.subscription.unsubscribe();
      });
    });

    describe('appendToStreams (atomic append to several streams)', () => {
      it(`is ${options.appendToStreams ? '' : 'not '}offered by this store`, async () => {
        // A store that is used (some create their tables on first use) and then asked.
        await store.headPosition();
        expect(typeof store.appendToStreams).toBe(
          options.appendToStreams ? 'function' : 'undefined',
        );
      });

      const atomic = (s: EventStore) => {
        if (!s.appendToStreams) throw new Error('this store has no appendToStreams');
        return s.appendToStreams.bind(s);
      };

      describe.runIf(Boolean(options.appendToStreams))('when offered', () => {
        it('writes every stream in the order given, one result per write', async () => {
          await store.append('b', [event('B0')]);
          const results = await atomic(store)([
            { stream: 'a', events: [event('A0'), event('A1')], expectedVersion: 'no_stream' },
            { stream: 'b', events: [event('B1')], expectedVersion: 0n },
            { stream: 'c', events: [event('C0')] },
          ]);
          const all = await store.readAll();
          expect(types(all)).toEqual(['B0', 'A0', 'A1', 'B1', 'C0']);
          expectStrictlyIncreasing(positions(all));
          expect(results.map((r) => r.nextExpectedRevision)).toEqual([1n, 1n, 0n]);
          expect(results.map((r) => r.lastPosition)).toEqual([
            nth(all, 2).globalPosition,
            nth(all, 3).globalPosition,
            nth(all, 4).globalPosition,
          ]);
          expect(revisions(await store.readStream('b'))).toEqual([0n, 1n]);
          expect(await store.headPosition()).toBe(nth(all, 4).globalPosition);
        });

        it('checks each expected version against the earlier writes of the same call', async () => {
          const results = await atomic(store)([
            { stream: 'a', events: [event('A0')], expectedVersion: 'no_stream' },
            { stream: 'a', events: [event('A1')], expectedVersion: 0n },
            { stream: 'a', events: [], expectedVersion: 'stream_exists' },
          ]);
          expect(results.map((r) => r.nextExpectedRevision)).toEqual([0n, 1n, 1n]);
          expect(types(await store.readStream('a'))).toEqual(['A0', 'A1']);
        });

        it('stores nothing when one write conflicts, and says which', async () => {
          await store.append('b', [event('B0')]);
          const head = await store.headPosition();
          await expectConcurrencyError(
            atomic(store)([
              { stream: 'a', events: [event('A0')], expectedVersion: 'no_stream' },
              { stream: 'b', events: [event('B1')], expectedVersion: 'no_stream' },
              { stream: 'c', events: [event('C0')] },
            ]),
            'b',
            0n,
          );
          expect(types(await store.readAll())).toEqual(['B0']);
          expect(await store.readStream('a')).toEqual([]);
          expect(await store.headPosition()).toBe(head);
          // The store goes on as if the call had never been made.
          const next = await store.append('a', [event('A0')], { expectedVersion: 'no_stream' });
          expect(next.nextExpectedRevision).toBe(0n);
          if (dense) expect(next.lastPosition).toBe(head + 1n);
        });

        it('delivers the writes to subscribers in order, with nothing of a refused call', async () => {
          const live = record(store.subscribe());
          await atomic(store)([
            { stream: 'q', events: [event('Q0')] },
            { stream: 'o', events: [event('O0'), event('O1')] },
          ]);
          await atomic(store)([
            { stream: 'q', events: [event('Q1')] },
            { stream: 'o', events: [event('O9')], expectedVersion: 0n },
          ]).catch(() => undefined);
          await store.append('z', [event('Z0')]);
          await live.untilCount(4);
          await settle();
          expect(types(live.events)).toEqual(['Q0', 'O0', 'O1', 'Z0']);
          live.subscription.unsubscribe();
        });

        it('lets exactly one of many racing calls claim a stream, and the losers write nothing', async () => {
          const racers = 12;
          const outcomes = await Promise.allSettled(
            Array.from({ length: racers }, (_, i) =>
              atomic(store)([
                { stream: `queue`, events: [event(`Q${i}`)] },
                { stream: 'claim', events: [event(`C${i}`)], expectedVersion: 'no_stream' },
                { stream: `own-${i}`, events: [event(`O${i}`)] },
              ]),
            ),
          );
          const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
          expect(winners).toHaveLength(1);
          for (const o of outcomes) {
            if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(ConcurrencyError);
          }
          const w = nth(winners, 0);
          expect(types(await store.readAll())).toEqual([`Q${w}`, `C${w}`, `O${w}`]);
        });

        it('fails with StoreClosedError once closed', async () => {
          await store.close();
          await expectStoreClosed(atomic(store)([{ stream: 'a', events: [event('A0')] }]));
        });

        it('property: every call is all or none, against a model of expected versions', async () => {
          const expectedArb = fc.oneof(
            fc.constantFrom<ExpectedVersion>('any', 'no_stream', 'stream_exists'),
            fc.integer({ min: -1, max: 3 }).map((n) => BigInt(n)),
          );
          const writeArb = fc.record({
            stream: fc.constantFrom('s1', 's2', 's3'),
            count: fc.integer({ min: 0, max: 2 }),
            expectedVersion: expectedArb,
          });
          await fc.assert(
            fc.asyncProperty(
              fc.array(fc.array(writeArb, { minLength: 1, maxLength: 4 }), {
                minLength: 1,
                maxLength: 6,
              }),
              async (calls) =>
                withFreshStore(async (s) => {
                  const model = new Map<string, string[]>();
                  const log: string[] = [];
                  for (const [c, call] of calls.entries()) {
                    const trial = new Map(
                      [...model].map(([k, v]): [string, string[]] => [k, [...v]]),
                    );
                    const added: string[] = [];
                    let ok = true;
                    for (const [w, write] of call.entries()) {
                      const current = BigInt((trial.get(write.stream) ?? []).length) - 1n;
                      const e = write.expectedVersion;
                      const accepted =
                        e === 'any' ||
                        (e === 'no_stream' && current === -1n) ||
                        (e === 'stream_exists' && current !== -1n) ||
                        (typeof e === 'bigint' && e === current);
                      if (!accepted) {
                        ok = false;
                        break;
                      }
                      const names = Array.from(
                        { length: write.count },
                        (_, i) => `E${c}.${w}.${i}`,
                      );
                      trial.set(write.stream, [...(trial.get(write.stream) ?? []), ...names]);
                      added.push(...names);
                    }
                    const attempt = atomic(s)(
                      call.map((w, wi) => ({
                        stream: w.stream,
                        events: Array.from({ length: w.count }, (_, i) =>
                          event(`E${c}.${wi}.${i}`),
                        ),
                        expectedVersion: w.expectedVersion,
                      })),
                    );
                    if (ok) {
                      await attempt;
                      model.clear();
                      for (const [k, v] of trial) model.set(k, v);
                      log.push(...added);
                    } else {
                      await expect(attempt).rejects.toBeInstanceOf(ConcurrencyError);
                    }
                  }
                  expect(types(await s.readAll())).toEqual(log);
                  for (const [stream, names] of model) {
                    expect(types(await s.readStream(stream))).toEqual(names);
                  }
                }),
            ),
            { numRuns: 25 },
          );
        });
      });
    });

    describe('close', () => {
      it('completes live subscriptions', async () => {
        await store.append('a', [event('A0')]);
        const fromStart = record(store.subscribe());
        const liveOnly = record(store.subscribe({ after: 'end' }));
        await fromStart.untilCount(1);
        await store.close();
        await Promise.all([
          fromStart.until((r) => r.completed, 'completion'),
          liveOnly.until((r) => r.completed, 'completion'),
        ]);
        expect(fromStart.error).toBeUndefined();
        expect(liveOnly.error).toBeUndefined();
        expect(types(fromStart.events)).toEqual(['A0']);
      });

      it('makes later calls fail with StoreClosedError', async () => {
        await store.append('a', [event('A0')]);
        await store.close();
        await expectStoreClosed(store.append('a', [event('A1')]));
        await expectStoreClosed(store.append('b', [event('B0')], { expectedVersion: 'no_stream' }));
        await expectStoreClosed(store.readStream('a'));
        await expectStoreClosed(store.readAll());
        await expectStoreClosed(store.headPosition());
        const late = record(store.subscribe());
        await late.until((r) => r.error !== undefined, 'an error');
        expect(late.error).toBeInstanceOf(StoreClosedError);
        expect((late.error as StoreClosedError).code).toBe('STORE_CLOSED');
        expect(late.events).toEqual([]);
      });

      it('is idempotent', async () => {
        await store.close();
        await expect(store.close()).resolves.toBeUndefined();
        await expectStoreClosed(store.readAll());
      });
    });
  });
};
