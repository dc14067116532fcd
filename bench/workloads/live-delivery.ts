import pg from 'pg';
import type { Subscription } from 'rxjs';
import { createPostgresEventStore } from '../../src/adapters/postgres/index.js';
import type { EventStore } from '../../src/domain/event-store.js';
import { type Recorder } from '../lib/measure.js';
import { createDatabase, dropDatabase } from '../lib/postgres.js';
import { percentile } from '../lib/stats.js';

export interface LiveDeliverySizes {
  writers: number;
  /** Appends (one event each) per writer. */
  perWriter: number;
  /** Each writer appends at most once per interval: a steady load, not a flood. */
  intervalMs: number;
}

export interface LiveDeliveryOptions {
  run: number;
  sizes: LiveDeliverySizes;
  warmup: LiveDeliverySizes;
  postgresUrl: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Writers and the subscriber each have their own store object and pool, as separate processes
 * would: the subscriber learns of appends from PostgreSQL (LISTEN/NOTIFY, polling behind it),
 * never from a local shortcut.
 */
const measure = async (url: string, s: LiveDeliverySizes, tag: string) => {
  const pools: pg.Pool[] = [];
  const storeOn = (max: number): EventStore => {
    const pool = new pg.Pool({ connectionString: url, max });
    // An idle connection the server drops (the database is dropped WITH (FORCE) after a failed
    // run) must not crash the child with pg's 'error' event and hide what actually failed.
    pool.on('error', () => undefined);
    pools.push(pool);
    return createPostgresEventStore({ pool });
  };
  const subscriberStore = storeOn(2);
  const writers = Array.from({ length: s.writers }, () => storeOn(1));
  const acked = new Map<string, number>();
  const delivered = new Map<string, number>();
  const total = s.writers * s.perWriter;
  let subscription: Subscription | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    // Also runs the migrations before anything is timed.
    const head = await subscriberStore.headPosition();
    let allDelivered!: () => void;
    let subscriptionFailed!: (error: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      allDelivered = resolve;
      subscriptionFailed = reject;
    });
    // Handled here too: a subscription failing while the writers still append would otherwise
    // be an unhandled rejection, which ends the process before the finally below runs.
    done.catch(() => undefined);
    // From the head read above, not 'end': on a busy server the subscription's own read of the
    // head could come after the first appends, which would then never be delivered.
    subscription = subscriberStore.subscribe({ after: head }).subscribe({
      next: (event) => {
        const { tag: t, id } = event.data as { tag: string; id: string };
        if (t !== tag) return;
        delivered.set(id, performance.now());
        if (delivered.size === total) allDelivered();
      },
      error: (error: unknown) => subscriptionFailed(error),
    });
    // Let the subscription start listening, so that the latencies measure live delivery.
    await sleep(300);

    const writer = async (w: number) => {
      const store = writers[w]!;
      for (let n = 0; n < s.perWriter; n++) {
        const started = performance.now();
        const id = `${w}:${n}`;
        await store.append(`live-${tag}-${w}`, [{ type: 'Tick', version: 1, data: { tag, id } }], {
          expectedVersion: n === 0 ? 'no_stream' : BigInt(n - 1),
        });
        acked.set(id, performance.now());
        const rest = s.intervalMs - (performance.now() - started);
        if (rest > 0) await sleep(rest);
      }
    };
    await Promise.all(writers.map((_, w) => writer(w)));
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`only ${delivered.size} of ${total} events were delivered`)),
          30_000,
        );
      }),
    ]);
  } finally {
    // Also after a failure: the database is dropped next, and it must find no one connected.
    clearTimeout(timer);
    subscription?.unsubscribe();
    await Promise.allSettled([subscriberStore, ...writers].map((st) => st.close()));
    await Promise.allSettled(pools.map((p) => p.end()));
  }

  const latencies: number[] = [];
  let early = 0;
  for (const [id, at] of acked) {
    const d = delivered.get(id)! - at;
    // The notification can overtake the append's own reply: delivered before acknowledged.
    if (d < 0) early++;
    latencies.push(Math.max(0, d));
  }
  return { latencies, early, total };
};

/** Workload 4: latency from an append's acknowledgement to its delivery to a live subscriber. */
export const runLiveDelivery = async (o: LiveDeliveryOptions, rec: Recorder): Promise<void> => {
  const name = `bench_live_${process.pid}_${o.run}`;
  const url = await createDatabase(o.postgresUrl, name);
  try {
    await measure(url, o.warmup, 'warmup');
    const { latencies, early, total } = await measure(url, o.sizes, 'measured');
    const table = 'live-delivery-postgres';
    const row = `opledger, ${o.sizes.writers} writers`;
    rec.set(table, row, 'p50', percentile(latencies, 50), 'ms');
    rec.set(table, row, 'p99', percentile(latencies, 99), 'ms');
    rec.set(table, row, 'max', Math.max(...latencies), 'ms');
    rec.set(table, row, 'events', total, 'events');
    rec.set(table, row, 'delivered before acknowledged', early, 'events');
  } finally {
    await dropDatabase(o.postgresUrl, name);
  }
};
