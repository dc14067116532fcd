import fc from 'fast-check';
import { firstValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { outageDelayMs } from '../../src/domain/outage-backoff.js';
import {
  ConcurrencyError,
  createInMemoryEventStore,
  InvalidEventError,
  StoreUnavailableError,
  type EventData,
  type StoreOutageNotice,
} from '../../src/index.js';
import { withStoreOutageRetry } from '../../src/engine/index.js';
import { createVirtualClock } from '../../src/testing/index.js';
import { createOutageStore, refused } from '../support/outage-store.js';

const event = (n: number): EventData => ({
  type: 'Thing',
  version: 1,
  data: { n, at: `2026-01-05T00:00:0${n % 10}.000Z`, nested: { b: 1, a: [n] } },
});

const setupStore = (maxMs = 60_000, random = () => 0.5) => {
  const clock = createVirtualClock();
  const inner = createInMemoryEventStore();
  const flaky = createOutageStore(inner, clock);
  const notices: StoreOutageNotice[] = [];
  const store = withStoreOutageRetry(flaky, {
    maxMs,
    clock,
    random,
    onOutage: (n) => notices.push(n),
  });
  return { clock, inner, flaky, store, notices };
};

describe('outageDelayMs', () => {
  it('backs off exponentially with equal jitter, capped, and never past the budget', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 120_000 }),
        fc.integer({ min: 1, max: 120_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (failures, waitedMs, budgetMs, random) => {
          const delay = outageDelayMs({ failures, waitedMs, budgetMs, random });
          if (waitedMs >= budgetMs) {
            expect(delay).toBeUndefined();
            return;
          }
          const full = Math.min(5_000, 100 * 2 ** (failures - 1));
          expect(delay).toBeGreaterThanOrEqual(1);
          expect(delay).toBeLessThanOrEqual(Math.max(1, Math.ceil(budgetMs - waitedMs)));
          if (full / 2 <= budgetMs - waitedMs) {
            expect(delay).toBeGreaterThanOrEqual(Math.floor(full / 2));
          }
          expect(delay).toBeLessThanOrEqual(Math.round(full));
        },
      ),
    );
  });

  it('spreads the delays of processes drawing different numbers', () => {
    const at = (random: number) =>
      outageDelayMs({ failures: 4, waitedMs: 0, budgetMs: 1e5, random });
    expect([at(0), at(0.5), at(0.999)]).toEqual([400, 600, 800]);
  });
});

describe('withStoreOutageRetry', () => {
  it('leaves a store that classifies no error as transient as it is', () => {
    const memory = createInMemoryEventStore();
    expect(withStoreOutageRetry(memory)).toBe(memory);
    const { flaky } = setupStore();
    expect(withStoreOutageRetry(flaky, { maxMs: 0 })).toBe(flaky);
  });

  it('calls again through an outage, with backoff, and says so once when the store is back', async () => {
    const { clock, flaky, store, notices, inner } = setupStore();
    flaky.downFor(5_000);
    const result = await store.append('s', [event(1)], { expectedVersion: 'no_stream' });
    expect(result.nextExpectedRevision).toBe(0n);
    expect((await inner.readStream('s')).map((e) => e.data)).toEqual([event(1).data]);
    // 75, 150, 300, 600, 1200, 2400 (jitter 0.5): 4725 ms, then one more past 5 s.
    expect(clock.sleeps.slice(0, 6)).toEqual([75, 150, 300, 600, 1200, 2400]);
    expect(clock.sleeps).toHaveLength(7);
    const recovered = notices.filter((n) => n.kind === 'recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]).toMatchObject({ host: 'fake:5432/test' });
    expect((recovered[0] as { unreachableMs: number }).unreachableMs).toBeGreaterThanOrEqual(5_000);
    const waiting = notices.filter((n) => n.kind === 'waiting');
    // At most one per second of outage, the first at once.
    expect(waiting.length).toBeGreaterThanOrEqual(1);
    expect(waiting.length).toBeLessThanOrEqual(6);
    expect(waiting[0]).toMatchObject({ unreachableMs: 0 });
  });

  it('never retries an error that is not transient', async () => {
    const { flaky, store } = setupStore();
    await store.append('s', [event(1)], { expectedVersion: 'no_stream' });
    const before = flaky.calls.append;
    await expect(store.append('s', [event(2)], { expectedVersion: 5n })).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect(flaky.calls.append).toBe((before ?? 0) + 1);
    const bad = withStoreOutageRetry(
      {
        ...flaky,
        append: async () => {
          throw new InvalidEventError('Thing', 'bad data');
        },
      },
      { clock: createVirtualClock() },
    );
    await expect(bad.append('s', [event(1)])).rejects.toBeInstanceOf(InvalidEventError);
  });

  it('gives up past the budget with a StoreUnavailableError, having written nothing', async () => {
    const { flaky, store, inner, notices } = setupStore(10_000);
    flaky.downFor(60_000);
    const error = await store
      .append('s', [event(1)], { expectedVersion: 'no_stream' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    const e = error as StoreUnavailableError;
    expect(e).toMatchObject({ code: 'STORE_UNAVAILABLE', host: 'fake:5432/test', call: 'append' });
    expect(e.unreachableMs).toBe(10_000);
    expect((e.lastCause as { code: string }).code).toBe('ECONNREFUSED');
    expect(e.message).toContain('fake:5432/test was unreachable for 10.0 s');
    expect(e.message).toContain('engine.recover()');
    expect(await inner.readStream('s')).toEqual([]);
    expect(notices.at(-1)).toMatchObject({ kind: 'gave_up', unreachableMs: 10_000 });
  });

  it('once a call gave up, the other calls of that outage try once; a success restores the budget', async () => {
    const { clock, flaky, store } = setupStore(10_000);
    flaky.downFor(60_000);
    await expect(store.readStream('s')).rejects.toBeInstanceOf(StoreUnavailableError);
    const before = flaky.calls.readStream ?? 0;
    const second = await store.readAll().catch((e: unknown) => e);
    expect(second).toBeInstanceOf(StoreUnavailableError);
    expect(flaky.calls.readAll).toBe(1);
    // The outage so far, not this call's instant.
    expect((second as StoreUnavailableError).unreachableMs).toBeGreaterThanOrEqual(10_000);
    clock.advance(60_000);
    expect(await store.readStream('s')).toEqual([]);
    flaky.downFor(5_000);
    expect(await store.readStream('s')).toEqual([]);
    expect(flaky.calls.readStream).toBeGreaterThan(before + 2);
  });

  it('gives a subscription that fails after running a while its whole budget', async () => {
    const { clock, flaky, store, inner } = setupStore(10_000);
    const seen = firstValueFrom(store.subscribe().pipe(take(2), toArray()));
    await inner.append('s', [event(0)]);
    await new Promise((r) => setImmediate(r));
    clock.advance(3_600_000);
    flaky.downFor(8_000);
    await inner.append('s', [event(1)]);
    expect((await seen).map((e) => (e.data as { n: number }).n)).toEqual([0, 1]);
  });

  it('does not append twice when the answer to a committed append was lost', async () => {
    const { flaky, store, inner } = setupStore();
    await store.append('s', [event(0)], { expectedVersion: 'no_stream' });
    flaky.loseAnswers(1);
    const result = await store.append('s', [event(1), event(2)], { expectedVersion: 0n });
    const recorded = await inner.readStream('s');
    expect(recorded.map((e) => (e.data as { n: number }).n)).toEqual([0, 1, 2]);
    expect(result).toEqual({ nextExpectedRevision: 2n, lastPosition: recorded[2]!.globalPosition });
  });

  it('tells its own lost append from another writer’s: the other one is a ConcurrencyError', async () => {
    const { flaky, store, inner } = setupStore();
    await store.append('s', [event(0)], { expectedVersion: 'no_stream' });
    // The append is refused by the outage (not committed), and meanwhile another writer wrote.
    flaky.downFor(1_000);
    const pending = store.append('s', [event(1)], { expectedVersion: 0n });
    await inner.append('s', [event(9)], { expectedVersion: 0n });
    await expect(pending).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await inner.readStream('s')).map((e) => (e.data as { n: number }).n)).toEqual([0, 9]);
  });

  it('finds its own lost append with no expected revision too', async () => {
    const { flaky, store, inner } = setupStore();
    await inner.append('q', [event(0)]);
    flaky.loseAnswers(2);
    const result = await store.append('q', [event(1)], { expectedVersion: 'any' });
    const recorded = await inner.readStream('q');
    expect(recorded.map((e) => (e.data as { n: number }).n)).toEqual([0, 1]);
    expect(result.nextExpectedRevision).toBe(1n);
  });

  it('keeps every append exactly once through any mix of lost answers and refusals', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            lost: fc.integer({ min: 0, max: 2 }),
            downMs: fc.constantFrom(0, 0, 300, 4_000),
            size: fc.integer({ min: 1, max: 3 }),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        async (plan) => {
          const { flaky, store, inner } = setupStore();
          let revision = -1n;
          let n = 0;
          for (const { lost, downMs, size } of plan) {
            const events = Array.from({ length: size }, () => event(n++));
            flaky.loseAnswers(lost);
            if (downMs) flaky.downFor(downMs);
            const result = await store.append('s', events, {
              expectedVersion: revision < 0n ? 'no_stream' : revision,
            });
            revision = result.nextExpectedRevision;
            flaky.loseAnswers(0);
          }
          const recorded = await inner.readStream('s');
          expect(recorded.map((e) => (e.data as { n: number }).n)).toEqual(
            Array.from({ length: n }, (_, i) => i),
          );
          expect(revision).toBe(BigInt(n - 1));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('records the outage first in the append that goes through, once', async () => {
    const clock = createVirtualClock();
    const inner = createInMemoryEventStore();
    const flaky = createOutageStore(inner, clock);
    const store = withStoreOutageRetry(flaky, {
      clock,
      random: () => 0,
      recordOutage: (_stream, _expected, ms) => [{ type: 'Outage', version: 1, data: { ms } }],
    });
    await store.append('s', [event(0)]);
    await store.append('s', [event(1)], { expectedVersion: 0n });
    flaky.downFor(2_000);
    flaky.loseAnswers(1);
    const result = await store.append('s', [event(2)], { expectedVersion: 1n });
    const types = (await inner.readStream('s')).map((e) => e.type);
    expect(types).toEqual(['Thing', 'Thing', 'Outage', 'Thing']);
    expect(result.nextExpectedRevision).toBe(3n);
  });

  it('reads through an outage', async () => {
    const { flaky, store } = setupStore();
    await store.append('s', [event(0)]);
    flaky.downFor(3_000);
    expect(await store.readStream('s')).toHaveLength(1);
    flaky.downFor(3_000);
    expect(await store.readAll()).toHaveLength(1);
    flaky.downFor(3_000);
    expect(await store.headPosition()).toBe(1n);
  });

  it('subscribes again after the last event delivered: nothing lost, nothing repeated', async () => {
    const { flaky, store, inner } = setupStore();
    await inner.append('s', [event(0), event(1)]);
    const seen = firstValueFrom(store.subscribe().pipe(take(4), toArray()));
    await new Promise((r) => setImmediate(r));
    flaky.downFor(2_000);
    await inner.append('s', [event(2), event(3)]);
    const events = await seen;
    expect(events.map((e) => (e.data as { n: number }).n)).toEqual([0, 1, 2, 3]);
    expect(flaky.calls.subscribe).toBeGreaterThan(1);
  });

  it('ends a subscription with a StoreUnavailableError past the budget', async () => {
    const { flaky, store } = setupStore(5_000);
    flaky.downFor(60_000);
    await expect(firstValueFrom(store.subscribe())).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('stops waiting when the store is closed', async () => {
    const { flaky, store } = setupStore();
    flaky.downFor(60_000);
    const { systemClock } = await import('../../src/engine/index.js');
    const real = withStoreOutageRetry(flaky, { clock: systemClock });
    const pending = real.append('s', [event(0)]);
    await real.close();
    await expect(pending).rejects.toMatchObject({ code: 'STORE_CLOSED' });
    expect(store).toBeDefined();
  });

  it('reports a cause without a message by its code', () => {
    const error = new StoreUnavailableError('h:1', 1_234, 'append', refused());
    expect(error.message).toContain('unreachable for 1.2 s');
    expect(error.message).toContain('ECONNREFUSED');
  });
});
