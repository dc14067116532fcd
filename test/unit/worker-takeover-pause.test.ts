import { describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/domain/event-store.js';
import {
  createClient,
  createInMemoryEventStore,
  createWorker,
  defineOperation,
  step,
  type OperationDefinition,
  type Worker,
} from '../../src/index.js';
import { request, until } from '../support/fixtures.js';
import { createManualClock, type ManualClock } from '../support/manual-clock.js';

// The chaos finding of issue 16: an operation whose worker's lease had run out was taken over
// late. Each suspect is pinned here on one in-memory store whose time the test moves (the
// store's clock, which judges leases, is `world`): worker A runs on a clock of its own that
// stays still while it is "paused" (as SIGSTOP leaves it), worker B on the world's.

const ttlMs = 300;
const renewEveryMs = 100;
const lease = { ttlMs, renewEveryMs };

/**
 * 'hang' runs until its signal is aborted (a lost lease aborts it); with `params.gate` it ends
 * when the test opens that gate.
 */
const fixture = () => {
  const started = new Set<string>();
  const gates = new Map<string, () => void>();
  const opened = new Map<string, Promise<void>>();
  const gate = (name: string) => {
    if (!opened.has(name)) opened.set(name, new Promise<void>((r) => gates.set(name, r)));
    return opened.get(name)!;
  };
  const deploy = defineOperation({
    type: 'deploy',
    steps: [
      step({ name: 'first', run: () => ({ ok: true }), undo: () => undefined }),
      step({
        name: 'hang',
        run: (ctx) => {
          started.add(ctx.operationId);
          const name = ctx.params.gate;
          if (typeof name === 'string') return gate(name).then(() => ({ ok: true }));
          return new Promise((_, reject) =>
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
          );
        },
        undo: () => undefined,
      }),
    ],
  });
  const open = (name: string) => {
    void gate(name);
    gates.get(name)!();
  };
  return { deploy, started, open };
};

/** A worker of these tests: the store's lease settings, no log, `deploy` its one operation type. */
const workerOn = (
  store: EventStore,
  deploy: OperationDefinition,
  identity: string,
  clock: ManualClock,
  concurrency?: number,
) =>
  createWorker({
    store,
    operations: [deploy],
    identity,
    clock,
    lease,
    log: () => undefined,
    ...(concurrency === undefined ? {} : { concurrency }),
  });

/** Lets the workers' pending promises run: their loops wait on the manual clocks, not turns. */
const settle = () => until(() => false, 300).catch(() => undefined);

/** Moves `clocks` on by `ms`, 10 ms at a time, letting the workers act after each. */
const pass = async (ms: number, ...clocks: ManualClock[]) => {
  for (let t = 0; t < ms; t += 10) {
    for (const c of clocks) c.advance(10);
    await settle();
  }
};

const eventsOf = (store: EventStore, id: string) => store.readStream(`operation-${id}`);

/** The lease that owns the operation now, as its stream says. */
const ownerLease = async (store: EventStore, id: string) => {
  let owner: string | undefined;
  for (const e of await eventsOf(store, id)) {
    if (e.type === 'OperationClaimed' || e.type === 'OperationTakenOver') {
      owner = (e.data as { lease: string }).lease;
    }
  }
  return owner;
};

/** When the lease's last event was recorded, on the store's clock. */
const lastRecordedAt = async (store: EventStore, leaseId: string) =>
  (await store.readStream(`worker-${encodeURIComponent(leaseId)}`)).at(-1)!.recordedAt.getTime();

const world = () => {
  const start = Date.parse('2026-01-05T00:00:00.000Z');
  const clock = createManualClock(start);
  const store = createInMemoryEventStore({ now: () => clock.now() });
  return { clock, store, start };
};

/** Every run a worker counts is of an operation owned by the lease it holds now. */
const countsOnlyItsOwn = async (store: EventStore, worker: Worker) => {
  for (const id of worker.running()) {
    expect(await ownerLease(store, id), `${worker.identity} counts ${id}`).toBe(worker.lease());
  }
};

describe('a takeover after a worker paused past its lease (the chaos finding of issue 16)', () => {
  for (const comesBack of ['stays paused', 'comes back as the lease runs out'] as const) {
    it(`given A paused mid-step past its ttl (${comesBack}), then its operation is taken over within ttl + renewEvery of A's last renewal, and A counts no run it does not own`, async () => {
      const { clock, store, start } = world();
      const paused = createManualClock(start);
      const f = fixture();
      const a = await workerOn(store, f.deploy, 'A', paused);
      const first = a.lease();
      const handle = await createClient({ store, operations: [f.deploy] }).start(request());
      await until(() => f.started.has(handle.id));
      const b = await workerOn(store, f.deploy, 'B', clock);
      const renewedAt = await lastRecordedAt(store, first);

      // A's clock stays still (no renewal, no watchdog); the world's goes on.
      let takenOver: { at: number; by: string } | undefined;
      let awake = false;
      for (let t = 0; !takenOver && t < 10 * ttlMs; t += 10) {
        if (comesBack !== 'stays paused' && clock.now().getTime() - renewedAt >= ttlMs) {
          // As after SIGCONT: A's time jumps to the world's, its lease already past its ttl.
          if (!awake) paused.advance(clock.now().getTime() - paused.now().getTime());
          awake = true;
          await pass(10, clock, paused);
        } else {
          await pass(10, clock);
        }
        const taken = (await eventsOf(store, handle.id)).find(
          (e) => e.type === 'OperationTakenOver',
        );
        if (taken) {
          takenOver = {
            at: taken.recordedAt.getTime(),
            by: (taken.data as { lease: string }).lease,
          };
        }
      }
      expect(takenOver).toBeDefined();
      expect(takenOver!.by).not.toBe(first);
      expect(takenOver!.at - renewedAt).toBeLessThanOrEqual(ttlMs + renewEveryMs);

      // A wakes (if it had not): it lost its lease and aborted its step; it counts no run of
      // the lost lease, and the operation is rolled back by whoever took it over.
      await pass(2 * ttlMs, clock, paused);
      expect(a.lease()).not.toBe(first);
      await countsOnlyItsOwn(store, a);
      expect(a.running()).not.toContain(handle.id);
      expect(await handle.result).toMatchObject({ status: 'failed', rollback: 'succeeded' });
      await countsOnlyItsOwn(store, b);
      await Promise.all([a.shutdown({ graceMs: 0 }), b.shutdown({ graceMs: 0 })]);
    });
  }

  it('given a worker whose run was aborted by its lost lease, then the run leaves its count at once: its slot takes other work, and it takes the operation over itself once the store says the lease expired', async () => {
    const { clock, store } = world();
    const f = fixture();
    const a = await workerOn(store, f.deploy, 'A', clock, 1);
    const first = a.lease();
    const client = createClient({ store, operations: [f.deploy] });
    const x = await client.start(request());
    await until(() => f.started.has(x.id));
    expect(a.running()).toEqual([x.id]);

    // Its renewals stall (a store slowed by load): the watchdog judges the lease lost.
    const append = store.append.bind(store);
    const held: (() => void)[] = [];
    store.append = async (stream, events, options) => {
      if (stream === `worker-${encodeURIComponent(first)}`) {
        await new Promise<void>((go) => held.push(go));
      }
      return append(stream, events, options);
    };
    await pass(ttlMs + renewEveryMs, clock);
    expect(a.lease()).not.toBe(first);
    // The aborted run was let go: the lost lease's operation is not counted any more...
    expect(a.running()).toEqual([]);
    // ...and the store has not yet seen the lease expire (the late renewal lands now), so the
    // free slot takes a new request on another resource.
    for (const go of held) go();
    store.append = append;
    const y = await client.start(
      request({ resource: { type: 'app', handle: 'api' }, params: { gate: 'y' } }),
    );
    await until(() => f.started.has(y.id));
    expect(await ownerLease(store, y.id)).toBe(a.lease());
    expect(a.running()).toEqual([y.id]);

    // Once the store says the old lease is past its ttl and a slot is free, the worker takes its
    // own operation over.
    await pass(ttlMs + 2 * renewEveryMs, clock);
    expect(await ownerLease(store, x.id)).toBe(first);
    f.open('y');
    expect((await y.result).status).toBe('succeeded');
    await pass(renewEveryMs, clock);
    expect(await ownerLease(store, x.id)).toBe(a.lease());
    await countsOnlyItsOwn(store, a);
    await a.shutdown({ graceMs: 0 });
    expect(await x.result).toMatchObject({ status: 'failed', rollback: 'succeeded' });
  });

  it('given the successor full when the lease expires, then the lease is expired at once, and the first slot it frees takes the operation over before any new claim', async () => {
    const { clock, store, start } = world();
    const paused = createManualClock(start);
    const f = fixture();
    const a = await workerOn(store, f.deploy, 'A', paused, 1);
    const first = a.lease();
    const client = createClient({ store, operations: [f.deploy] });
    const x = await client.start(request());
    await until(() => f.started.has(x.id));
    const b = await workerOn(store, f.deploy, 'B', clock, 1);
    const y = await client.start(
      request({ resource: { type: 'app', handle: 'api' }, params: { gate: 'y' } }),
    );
    await until(() => f.started.has(y.id));
    expect(b.running()).toEqual([y.id]);
    // A request waiting for a worker too, older than nothing B holds: a claim competing with
    // the takeover for B's one slot.
    const z = await client.start(
      request({ resource: { type: 'app', handle: 'db' }, params: { gate: 'z' } }),
    );

    await pass(ttlMs + 2 * renewEveryMs, clock);
    // B expired A's lease without a free slot...
    const leaseEvents = await store.readStream(`worker-${encodeURIComponent(first)}`);
    expect(leaseEvents.at(-1)?.type).toBe('WorkerLeaseExpired');
    expect(await ownerLease(store, x.id)).toBe(first);
    expect(await ownerLease(store, z.id)).toBeUndefined();

    // ...and its first free slot goes to the takeover, with no time passing.
    f.open('y');
    expect(await x.result).toMatchObject({ status: 'failed', rollback: 'succeeded' });
    expect(await ownerLease(store, x.id)).toBe(b.lease());
    const takenAt = (await eventsOf(store, x.id)).find((e) => e.type === 'OperationTakenOver')!;
    const claimOfZ = (await eventsOf(store, z.id)).find((e) => e.type === 'OperationClaimed');
    // No world time passed: it was taken in the pass that followed y's end, before z's claim.
    expect(takenAt.recordedAt.getTime()).toBe(clock.now().getTime());
    if (claimOfZ) expect(claimOfZ.globalPosition).toBeGreaterThan(takenAt.globalPosition);
    f.open('z');
    await Promise.all([a.shutdown({ graceMs: 0 }), b.shutdown({ graceMs: 0 })]);
  });

  it("given a lease lost while a step's start was being appended (the store locked), then the step is not begun once the append lands, and whoever takes the operation over undoes it", async () => {
    const { clock, store } = world();
    const ran: { step: string; aborted: boolean }[] = [];
    const deploy = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'first',
          run: (ctx) => void ran.push({ step: 'first', aborted: ctx.signal.aborted }),
          undo: () => undefined,
        }),
      ],
    });
    // Once `locked`, a step's start and the lease's renewals wait for the test (on SQLite, for
    // a paused process holding the write lock).
    const append = store.append.bind(store);
    let locked = true;
    let letGo: (() => void) | undefined;
    const waiting: (() => void)[] = [];
    store.append = async (stream, events, options) => {
      if (locked && events.some((e) => e.type === 'StepStarted')) {
        await new Promise<void>((go) => (letGo = go));
      } else if (
        locked &&
        stream.startsWith('worker-') &&
        options?.expectedVersion !== 'no_stream'
      ) {
        await new Promise<void>((go) => waiting.push(go));
      }
      return append(stream, events, options);
    };
    const a = await workerOn(store, deploy, 'A', clock);
    const first = a.lease();
    const handle = await createClient({ store, operations: [deploy] }).start(request());
    await until(() => letGo !== undefined);
    // The watchdog gives the lease up while the start waits; then the start lands.
    await pass(ttlMs + renewEveryMs, clock);
    expect(a.lease()).not.toBe(first);
    locked = false;
    letGo!();
    for (const go of waiting) go();
    await settle();
    expect(ran).toEqual([]);
    expect(a.running()).not.toContain(handle.id);

    // The worker takes its own operation over once the store says the old lease expired: the
    // step's start is on record and its outcome unknown, so it is rolled back.
    await pass(ttlMs + 2 * renewEveryMs, clock);
    expect(await handle.result).toMatchObject({ status: 'failed', rollback: 'succeeded' });
    expect(ran).toEqual([]);
    await a.shutdown({ graceMs: 0 });
  });
});
