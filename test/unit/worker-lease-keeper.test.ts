import { describe, expect, it } from 'vitest';
import { encodeEvent } from '../../src/domain/event-codec.js';
import type { AppendOptions, EventData, EventStore } from '../../src/domain/event-store.js';
import { leaseStreamName } from '../../src/domain/stream-names.js';
import { keepLease, type LeaseKeeper } from '../../src/engine/worker/lease-keeper.js';
import { createInMemoryEventStore, LeaseLostError } from '../../src/index.js';
import { until } from '../support/fixtures.js';
import { createManualClock, type ManualClock } from '../support/manual-clock.js';

// The lease keeper (src/engine/worker/lease-keeper.ts) when its renewals and its watchdog
// overlap: a renewal still in flight when the watchdog judges the lease lost (a store slowed
// by load or SQLite's lock) must not touch the new lease, and a renewal of the new lease must
// not run before that lease is written. Each race is forced with a store whose appends to a
// lease stream the test holds and lets go.

const ttlMs = 300;
const renewEveryMs = 100;

/**
 * An in-memory store whose appends to the lease streams in `held` wait for `letGo`, whose
 * appends to those in `failing` fail (the store down), and, once `holdNewLeases`, whose first
 * write of a new lease waits too.
 */
const gatedStore = () => {
  const store = createInMemoryEventStore();
  const held = new Set<string>();
  const failing = new Set<string>();
  let holdNew = false;
  const waiting: { stream: string; go: () => void }[] = [];
  const appended: { stream: string; type: string }[] = [];
  const gated: EventStore = Object.assign(Object.create(store) as EventStore, {
    append: async (stream: string, events: readonly EventData[], options?: AppendOptions) => {
      if (failing.has(stream)) throw new Error('the store is down');
      if (holdNew && stream.startsWith('worker-') && options?.expectedVersion === 'no_stream') {
        holdNew = false;
        held.add(stream);
      }
      if (held.has(stream)) {
        await new Promise<void>((go) => waiting.push({ stream, go }));
      }
      const result = await store.append(stream, events, options);
      for (const e of events) appended.push({ stream, type: e.type });
      return result;
    },
  });
  return {
    store: gated,
    /** The store itself, past the gates: another worker's writes. */
    raw: store,
    hold: (lease: string) => void held.add(leaseStreamName(lease)),
    fail: (lease: string) => void failing.add(leaseStreamName(lease)),
    holdNewLeases: () => void (holdNew = true),
    /** Lets the held appends of `lease` through, in order, and stops holding its next ones. */
    letGo: (lease: string) => {
      const stream = leaseStreamName(lease);
      held.delete(stream);
      for (const w of waiting.filter((x) => x.stream === stream)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.go();
      }
    },
    waitingOn: (lease: string) => waiting.filter((w) => w.stream === leaseStreamName(lease)).length,
    appended,
    renewalsOf: (lease: string) =>
      appended.filter((a) => a.stream === leaseStreamName(lease) && a.type === 'WorkerLeaseRenewed')
        .length,
  };
};

const start = (store: EventStore, clock: ManualClock, warnings: string[]) =>
  keepLease({
    store,
    clock,
    identity: 'w1',
    ttlMs,
    renewEveryMs,
    concurrency: 4,
    operationTypes: ['deploy'],
    holding: () => [],
    renewed: () => undefined,
    warn: (message) => void warnings.push(message),
    fatal: (error) => {
      throw error;
    },
  });

/** Lets the keeper's pending promises run (its loops wait on the manual clock, not on turns). */
const settle = () => until(() => false, 200).catch(() => undefined);

/** `n` renewal periods pass, each followed by the keeper's reaction. */
const renewalPeriods = async (clock: ManualClock, n: number) => {
  for (let i = 0; i < n; i++) {
    clock.advance(renewEveryMs);
    await settle();
  }
};

/** Renewal periods pass until the watchdog gives `lease` up for another (within 10 ttls). */
const untilReplaced = async (keeper: LeaseKeeper, clock: ManualClock, lease: string) => {
  for (let t = 0; keeper.current() === lease; t += renewEveryMs) {
    expect(t).toBeLessThan(10 * ttlMs);
    await renewalPeriods(clock, 1);
  }
  return keeper.current();
};

/** `lease` is still held, renewed at least `renewals` times, never reported lost. */
const expectKept = (
  keeper: LeaseKeeper,
  gate: ReturnType<typeof gatedStore>,
  lease: string,
  warnings: string[],
  renewals: number,
) => {
  expect(keeper.current()).toBe(lease);
  expect(keeper.signal().aborted).toBe(false);
  expect(gate.renewalsOf(lease)).toBeGreaterThanOrEqual(renewals);
  expect(warnings.filter((w) => w.startsWith(`lease ${lease} lost`))).toEqual([]);
};

/**
 * A keeper whose lease 1 can no longer be renewed (the store fails its appends) and whose lease
 * 2, taken when the watchdog gives lease 1 up, is not written yet: its first append is held.
 * `before` runs once lease 1 is held, before its renewals start failing.
 */
const secondLeaseHeld = async (
  before?: (s: {
    gate: ReturnType<typeof gatedStore>;
    clock: ManualClock;
    first: string;
  }) => Promise<void>,
) => {
  const gate = gatedStore();
  const clock = createManualClock();
  const warnings: string[] = [];
  const keeper = await start(gate.store, clock, warnings);
  const first = keeper.current();
  await before?.({ gate, clock, first });
  gate.fail(first);
  gate.holdNewLeases();
  const second = await untilReplaced(keeper, clock, first);
  const secondSignal = keeper.signal();
  await until(() => gate.waitingOn(second) >= 1);
  return { gate, clock, warnings, keeper, first, second, secondSignal };
};

describe('the lease keeper when a renewal and the watchdog overlap', () => {
  it('given a renewal of lease 1 in flight when the watchdog judges it lost, when that renewal lands, then lease 2 is kept: renewed at its own revision, never lost', async () => {
    const gate = gatedStore();
    const clock = createManualClock();
    const warnings: string[] = [];
    const keeper: LeaseKeeper = await start(gate.store, clock, warnings);
    const first = keeper.current();
    const firstSignal = keeper.signal();

    // The renewal of lease 1 begins, and its append is held (a slow store).
    gate.hold(first);
    clock.advance(renewEveryMs);
    await until(() => gate.waitingOn(first) === 1);
    // Its time to live runs out meanwhile: the watchdog aborts its runs and takes lease 2.
    clock.advance(ttlMs);
    await until(() => keeper.current() !== first);
    const second = keeper.current();
    expect(firstSignal.aborted).toBe(true);
    await until(() => gate.appended.some((a) => a.stream === leaseStreamName(second)));

    // The late renewal of lease 1 lands now.
    gate.letGo(first);
    await settle();

    // Lease 2 lives on through several renewals: none conflicts, none is judged overdue.
    await renewalPeriods(clock, 5);
    expectKept(keeper, gate, second, warnings, 4);
    await keeper.release([]);
  });

  it("given lease 2 still being written after lease 1 was lost, when a renewal falls due meanwhile, then it renews lease 2 at lease 2's revision once written: lease 2 is not lost", async () => {
    // Lease 1 renewed three times (at revision 3), then the store fails its renewals; its time
    // to live runs out: lease 2 is taken, and its first write is held (a slow store).
    const { gate, clock, warnings, keeper, second } = await secondLeaseHeld(async (s) => {
      await renewalPeriods(s.clock, 3);
      expect(s.gate.renewalsOf(s.first)).toBe(3);
    });

    // A renewal falls due before lease 2 is written; then the store takes both writes.
    await renewalPeriods(clock, 1);
    gate.letGo(second);
    await settle();
    await renewalPeriods(clock, 3);

    expectKept(keeper, gate, second, warnings, 3);
    await keeper.release([]);
  });

  it('given lease 2 written only after a time to live (the store locked meanwhile), when it lands, then lease 2 is confirmed by a renewal and kept, not judged lost at once', async () => {
    // The store is locked (on SQLite, by a paused process): lease 1 cannot be renewed, and
    // lease 2, taken when the watchdog gives lease 1 up, is written only 5 ttls later.
    const { gate, clock, warnings, keeper, second } = await secondLeaseHeld();
    await renewalPeriods(clock, 5 * (ttlMs / renewEveryMs));
    gate.letGo(second);
    await settle();
    await renewalPeriods(clock, 3);

    expectKept(keeper, gate, second, warnings, 3);
    await keeper.release([]);
  });

  it('given lease 2 written late and expired by another worker before this one could renew it, then lease 2 is lost and a third is taken', async () => {
    const { gate, clock, warnings, keeper, second, secondSignal: signal } = await secondLeaseHeld();
    clock.advance(5 * ttlMs);
    // Lease 2 lands, and its renewal is held: another worker expires it first.
    gate.letGo(second);
    gate.hold(second);
    await until(() => gate.waitingOn(second) >= 1);
    await gate.raw.append(
      leaseStreamName(second),
      [
        encodeEvent({
          type: 'WorkerLeaseExpired',
          data: {
            by: 'w2.lease',
            lastRenewedAt: clock.now().toISOString(),
            at: clock.now().toISOString(),
          },
        }),
      ],
      { expectedVersion: 0n },
    );
    gate.letGo(second);
    await until(() => keeper.current() !== second);
    expect(signal.aborted).toBe(true);
    expect(warnings.some((w) => w.startsWith(`lease ${second} lost`))).toBe(true);
    await keeper.release([]);
  });

  it('given a lease lost by the watchdog, then its signal is aborted with a LeaseLostError naming it', async () => {
    const gate = gatedStore();
    const clock = createManualClock();
    const keeper = await start(gate.store, clock, []);
    const first = keeper.current();
    const signal = keeper.signal();
    gate.hold(first);
    clock.advance(ttlMs + 1);
    await until(() => signal.aborted);
    expect(signal.reason).toBeInstanceOf(LeaseLostError);
    expect(String((signal.reason as Error).message)).toContain(first);
    gate.letGo(first);
    await keeper.release([]);
  });
});

describe('the lease keeper releasing its lease when the store does not take it', () => {
  it('given the release write held (the store not answering), then release resolves once the lease would have run out, with a warning, and the write landing later is harmless', async () => {
    const gate = gatedStore();
    const clock = createManualClock();
    const warnings: string[] = [];
    const keeper = await start(gate.store, clock, warnings);
    const lease = keeper.current();
    gate.hold(lease);
    let released = false;
    const releasing = keeper.release(['op-1']).then(() => (released = true));
    await until(() => gate.waitingOn(lease) === 1);

    // Short of the lease's time to live, the worker still waits for its release.
    clock.advance(ttlMs - 1);
    await settle();
    expect(released).toBe(false);

    clock.advance(1);
    await releasing;
    expect(warnings).toEqual([
      `lease ${lease} not released: the store did not take the release before the lease's ${ttlMs} ms time to live ran out; it expires by itself, and its operations are left to the worker that takes them over`,
    ]);

    // The store answers at last: the release lands, and nothing throws.
    gate.letGo(lease);
    await until(() =>
      gate.appended.some(
        (a) => a.stream === leaseStreamName(lease) && a.type === 'WorkerLeaseReleased',
      ),
    );
  });

  it('given the release write failing (the store down), then release resolves with a warning naming the error: the lease expires as after a crash', async () => {
    const gate = gatedStore();
    const clock = createManualClock();
    const warnings: string[] = [];
    const keeper = await start(gate.store, clock, warnings);
    const lease = keeper.current();
    gate.fail(lease);
    await keeper.release([]);
    expect(warnings).toEqual([
      `lease ${lease} not released (Error: the store is down): it expires by itself, and its operations are left to the worker that takes them over`,
    ]);
  });

  it('given the store answering, then release writes WorkerLeaseReleased with what the worker held, and warns of nothing', async () => {
    const gate = gatedStore();
    const clock = createManualClock();
    const warnings: string[] = [];
    const keeper = await start(gate.store, clock, warnings);
    const lease = keeper.current();
    await keeper.release(['op-1']);
    const last = (await gate.raw.readStream(leaseStreamName(lease))).at(-1);
    expect(last?.type).toBe('WorkerLeaseReleased');
    expect((last?.data as { holding: string[] }).holding).toEqual(['op-1']);
    expect(warnings).toEqual([]);
  });
});
