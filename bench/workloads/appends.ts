import {
  emmettMemory,
  emmettPostgres,
  opledgerMemory,
  opledgerPostgres,
  opledgerSqlite,
  opledgerSqliteOneWriter,
  rawPostgres,
  rawSqlite,
  type AppendTarget,
  type TargetFactory,
} from '../lib/append-targets.js';
import { benchEvent, streamName, type BenchEvent } from '../lib/events.js';
import { forceGc, inRunOrder, seconds, type Recorder } from '../lib/measure.js';

export interface AppendSizes {
  /** Events written by each write phase. */
  events: number;
  streams: number;
  writers: number;
  batch: number;
  /** Events per page when reading the whole log. */
  pageSize: number;
}

export interface AppendOptions {
  store: 'memory' | 'sqlite' | 'postgres';
  run: number;
  sizes: AppendSizes;
  warmup: AppendSizes;
  postgresUrl?: string;
}

const perStream = (s: AppendSizes) => Math.floor(s.events / s.streams);

/** Every stream gets one event per round, in stream order: 100,000 appends one by one. */
const sequential = async (t: AppendTarget, s: AppendSizes) => {
  for (let r = 0; r < perStream(s); r++) {
    for (let i = 0; i < s.streams; i++) await t.append(streamName(i), [benchEvent(i, r)], r);
  }
};

/** The same appends shared out among `writers` loops that run at once, each on its own streams. */
const concurrent = async (t: AppendTarget, s: AppendSizes) => {
  const writer = async (w: number) => {
    for (let r = 0; r < perStream(s); r++) {
      for (let i = w; i < s.streams; i += s.writers) {
        await t.append(streamName(i), [benchEvent(i, r)], r);
      }
    }
  };
  await Promise.all(Array.from({ length: s.writers }, (_, w) => writer(w)));
};

/** The same events, `batch` per append. */
const batches = async (t: AppendTarget, s: AppendSizes) => {
  const rounds = Math.ceil(perStream(s) / s.batch);
  for (let b = 0; b < rounds; b++) {
    for (let i = 0; i < s.streams; i++) {
      const events: BenchEvent[] = [];
      for (let r = b * s.batch; r < Math.min(perStream(s), (b + 1) * s.batch); r++) {
        events.push(benchEvent(i, r));
      }
      await t.append(streamName(i), events, b * s.batch);
    }
  }
};

const readStreams = async (t: AppendTarget, s: AppendSizes) => {
  for (let i = 0; i < s.streams; i++) {
    const n = await t.readStream(streamName(i));
    if (n !== perStream(s)) throw new Error(`stream ${i}: read ${n} events, wrote ${perStream(s)}`);
  }
};

const factories = (o: AppendOptions): TargetFactory[] => {
  switch (o.store) {
    case 'memory':
      return [opledgerMemory, emmettMemory];
    case 'sqlite':
      return [opledgerSqlite, opledgerSqliteOneWriter, rawSqlite];
    case 'postgres':
      if (!o.postgresUrl) throw new Error('the postgres append workload needs a server');
      return [
        opledgerPostgres(o.postgresUrl),
        emmettPostgres(o.postgresUrl),
        rawPostgres(o.postgresUrl),
      ];
  }
};

const PHASES = [
  { name: 'sequential', label: 'one event per append, sequential', run: sequential },
  { name: 'concurrent', label: 'one event per append, concurrent writers', run: concurrent },
  { name: 'batches', label: 'batches per append', run: batches },
] as const;

/**
 * Workload 1 for one store: each contestant writes the same events in three ways, each time
 * into a fresh store, then reads back every stream and the whole log of the sequential store.
 * Contestants take turns phase by phase, in an order that flips from one run to the next.
 */
export const runAppends = async (o: AppendOptions, rec: Recorder): Promise<void> => {
  const all = factories(o);
  const table = `appends-${o.store}`;
  const total = perStream(o.sizes) * o.sizes.streams;

  // Warm-up: every contestant goes through every phase once on a small store.
  for (const f of all) {
    for (const phase of PHASES) {
      const t = await f.open(`warm_${phase.name}_${o.run}`);
      await phase.run(t, o.warmup);
      if (phase.name === 'sequential') {
        await readStreams(t, o.warmup);
        await t.readAll?.(o.warmup.pageSize);
      }
      await t.close();
    }
  }

  const throughput: Record<string, Record<string, number>> = {};
  const put = (row: string, contestant: string, value: number) => {
    (throughput[row] ??= {})[contestant] = value;
    rec.set(table, row, contestant, value, 'events/s');
  };
  // The stores of the sequential phase are read back before the next phase opens any other.
  const kept = new Map<string, AppendTarget>();
  for (const [index, phase] of PHASES.entries()) {
    for (const f of inRunOrder(all, o.run + index)) {
      const t = await f.open(`${phase.name}_${o.run}`);
      forceGc();
      const s = await seconds(() => phase.run(t, o.sizes));
      put(phase.name, f.contestant, total / s);
      if (phase.name === 'sequential') kept.set(f.contestant, t);
      else await t.close();
    }
    if (phase.name !== 'sequential') continue;
    for (const f of inRunOrder(all, o.run + 1)) {
      const t = kept.get(f.contestant)!;
      forceGc();
      put(
        'read every stream',
        f.contestant,
        total / (await seconds(() => readStreams(t, o.sizes))),
      );
      if (t.readAll) {
        let read = 0;
        const s = await seconds(async () => {
          read = await t.readAll!(o.sizes.pageSize);
        });
        if (read !== total) throw new Error(`${f.contestant} read ${read} events of ${total}`);
        put('read the whole log', f.contestant, total / s);
      }
      await t.close();
    }
  }
  for (const f of all) await f.dispose?.();

  // Ratios run by run: each opledger configuration's throughput over each peer's, measured in
  // this same run.
  for (const [row, byContestant] of Object.entries(throughput)) {
    for (const [ours, value] of Object.entries(byContestant)) {
      if (!ours.startsWith('opledger')) continue;
      for (const [peer, theirs] of Object.entries(byContestant)) {
        if (peer.startsWith('opledger')) continue;
        rec.set(table, row, `${ours} / ${peer}`, value / theirs, 'x');
      }
    }
  }
};
