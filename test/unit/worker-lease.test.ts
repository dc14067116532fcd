import { describe, expect, it } from 'vitest';
import { createEventDecoder } from '../../src/domain/event-codec.js';
import type { EventStore, ReadStreamOptions } from '../../src/domain/event-store.js';
import type { WorkerEvent } from '../../src/domain/events.js';
import {
  acquireLease,
  evolveLease,
  expireLease,
  isPastTtl,
  readLease,
  renewLease,
  type LeaseInfo,
  type LeaseRecord,
} from '../../src/engine/worker/lease.js';
import { createInMemoryEventStore } from '../../src/index.js';

// A worker's lease as a fold of its stream's events, its expiry judged on the store's clock,
// and its renewals and expiry as appends at the revision read (src/engine/worker/lease.ts).

const t0 = new Date('2026-01-05T00:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const iso = (ms: number) => at(ms).toISOString();

const info: LeaseInfo = {
  lease: 'lease-1',
  worker: 'w1',
  host: 'host-a',
  pid: 42,
  ttlMs: 1_000,
  renewEveryMs: 300,
  concurrency: 4,
  operations: ['deploy'],
  at: iso(0),
};
const acquired: WorkerEvent = { type: 'WorkerLeaseAcquired', data: info };
const renewed = (holding: string[], ms: number): WorkerEvent => ({
  type: 'WorkerLeaseRenewed',
  data: { holding, at: iso(ms) },
});
const released = (holding: string[], ms: number): WorkerEvent => ({
  type: 'WorkerLeaseReleased',
  data: { holding, at: iso(ms) },
});
const expired = (ms: number): WorkerEvent => ({
  type: 'WorkerLeaseExpired',
  data: { by: 'w2', lastRenewedAt: iso(0), at: iso(ms) },
});

const live: LeaseRecord = {
  info,
  status: 'live',
  revision: 0n,
  lastRecordedAt: at(0),
  holding: [],
};

describe('evolveLease', () => {
  it('given nothing, when WorkerLeaseAcquired, then a live lease at its revision and store time, holding nothing', () => {
    expect(evolveLease(undefined, acquired, 0n, at(5))).toEqual({
      info,
      status: 'live',
      revision: 0n,
      lastRecordedAt: at(5),
      holding: [],
    });
  });

  it('given a live lease, when WorkerLeaseRenewed, then still live, at the renewal revision and store time, holding what it said', () => {
    expect(evolveLease(live, renewed(['op-1'], 300), 1n, at(310))).toEqual({
      ...live,
      revision: 1n,
      lastRecordedAt: at(310),
      holding: ['op-1'],
    });
  });

  it('given a live lease, when WorkerLeaseReleased, then released, holding what its grace left', () => {
    expect(evolveLease(live, released(['op-2'], 400), 3n, at(400))).toEqual({
      ...live,
      status: 'released',
      revision: 3n,
      lastRecordedAt: at(400),
      holding: ['op-2'],
    });
  });

  it('given a live lease holding op-1, when WorkerLeaseExpired, then expired, still naming op-1 (what the taker takes over)', () => {
    const holding = { ...live, holding: ['op-1'] };
    expect(evolveLease(holding, expired(2_000), 2n, at(2_000))).toEqual({
      ...holding,
      status: 'expired',
      revision: 2n,
      lastRecordedAt: at(2_000),
    });
  });

  it('given a lease, when WorkerRegistered (the workers stream), then the lease unchanged', () => {
    const registered: WorkerEvent = {
      type: 'WorkerRegistered',
      data: { lease: 'lease-1', worker: 'w1', at: iso(0) },
    };
    expect(evolveLease(live, registered, 9n, at(9))).toBe(live);
  });

  it('given no lease read, when a renewal, release or expiry, then still no lease', () => {
    expect(evolveLease(undefined, renewed([], 1), 1n, at(1))).toBeUndefined();
    expect(evolveLease(undefined, released([], 1), 1n, at(1))).toBeUndefined();
    expect(evolveLease(undefined, expired(1), 1n, at(1))).toBeUndefined();
  });
});

describe('isPastTtl', () => {
  it('given a live lease last recorded at 0 with a 1000 ms ttl, when the store says 1000, then not past (it is exactly at its ttl)', () => {
    expect(isPastTtl(live, at(1_000))).toBe(false);
  });

  it('given a live lease last recorded at 0 with a 1000 ms ttl, when the store says 1001, then past its ttl', () => {
    expect(isPastTtl(live, at(1_001))).toBe(true);
  });

  it('given a live lease renewed at 900, when the store says 1500, then not past (judged from the last renewal)', () => {
    expect(isPastTtl({ ...live, lastRecordedAt: at(900) }, at(1_500))).toBe(false);
  });

  it('given a released or expired lease long past its ttl, then not past (only a live lease can expire)', () => {
    expect(isPastTtl({ ...live, status: 'released' }, at(60_000))).toBe(false);
    expect(isPastTtl({ ...live, status: 'expired' }, at(60_000))).toBe(false);
  });
});

/** An in-memory store on a clock the test moves, counting the events each read returns. */
const countingStore = () => {
  let now = t0.getTime();
  const store = createInMemoryEventStore({ now: () => new Date(now) });
  const reads: { options: ReadStreamOptions | undefined; returned: number }[] = [];
  const readStream = store.readStream.bind(store);
  const counted: EventStore = Object.assign(store, {
    readStream: async (stream: string, options?: ReadStreamOptions) => {
      const events = await readStream(stream, options);
      reads.push({ options, returned: events.length });
      return events;
    },
  });
  return { store: counted, reads, advance: (ms: number) => void (now += ms) };
};

const decode = createEventDecoder();

describe('readLease', () => {
  it('given a lease renewed 50 times then expired, when read, then expired at the last revision, holding what the last renewal said, from 3 events read', async () => {
    const { store, reads, advance } = countingStore();
    let revision = await acquireLease(store, info);
    for (let i = 1; i <= 50; i++) {
      advance(300);
      revision = (await renewLease(store, 'lease-1', revision, renewed([`op-${i}`], i)))!;
    }
    advance(1_500);
    const record = await readLease(store, decode, 'lease-1');
    expect(record).toMatchObject({ status: 'live', revision: 50n, holding: ['op-50'] });
    expect(await expireLease(store, record!, 'w2', iso(0))).toBe(true);
    reads.length = 0;

    const after = await readLease(store, decode, 'lease-1');
    expect(after).toEqual({
      info,
      status: 'expired',
      revision: 51n,
      lastRecordedAt: at(50 * 300 + 1_500),
      holding: ['op-50'],
    });
    expect(reads.reduce((n, r) => n + r.returned, 0)).toBe(3);
  });

  it('given a lease only acquired, when read, then live at revision 0 (its one event folded once)', async () => {
    const { store } = countingStore();
    await acquireLease(store, info);
    expect(await readLease(store, decode, 'lease-1')).toEqual({ ...live, revision: 0n });
  });

  it('given no lease stream, when read, then undefined', async () => {
    const { store } = countingStore();
    expect(await readLease(store, decode, 'lease-9')).toBeUndefined();
  });
});

describe('renewLease and expireLease, appends at the revision read', () => {
  it('given w2 expired the lease at the revision it read, when w1 renews at its own last revision, then undefined (w1 lost it) and nothing is written', async () => {
    const { store, advance } = countingStore();
    const revision = await acquireLease(store, info);
    advance(1_500);
    const record = (await readLease(store, decode, 'lease-1'))!;
    expect(isPastTtl(record, await store.currentTime!())).toBe(true);
    expect(await expireLease(store, record, 'w2', iso(1_500))).toBe(true);

    expect(await renewLease(store, 'lease-1', revision, renewed([], 1_500))).toBeUndefined();
    expect((await readLease(store, decode, 'lease-1'))?.status).toBe('expired');
  });

  it('given w2 read the lease past its ttl and w1 renewed meanwhile, when w2 expires it, then false and the lease stays live', async () => {
    const { store, advance } = countingStore();
    const revision = await acquireLease(store, info);
    advance(1_500);
    const stale = (await readLease(store, decode, 'lease-1'))!;
    await renewLease(store, 'lease-1', revision, renewed([], 1_500));

    expect(await expireLease(store, stale, 'w2', iso(1_500))).toBe(false);
    expect((await readLease(store, decode, 'lease-1'))?.status).toBe('live');
  });
});
