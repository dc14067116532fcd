import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createInMemoryEventStore } from '../../src/adapters/memory/index.js';
import { createInMemoryReadStore } from '../../src/adapters/memory/in-memory-read-store.js';
import { createSqliteEventStore, createSqliteReadStore } from '../../src/adapters/sqlite/index.js';
import type { EventData, EventStore } from '../../src/domain/event-store.js';
import { defineOperation, step } from '../../src/domain/operation-definition.js';
import { createEngine } from '../../src/engine/engine.js';
import { createProjector } from '../../src/projections/projector.js';
import { createReadModel } from '../../src/projections/read-model.js';
import type { ReadStore } from '../../src/projections/read-store.js';
import { forceGc, type Recorder } from '../lib/measure.js';

export interface ProjectionSizes {
  /** Events in the store to rebuild from; ten per operation, so events / 10 report rows. */
  events: number;
}

export interface ProjectionOptions {
  store: 'memory' | 'sqlite';
  run: number;
  sizes: ProjectionSizes;
}

const EVENTS_PER_OPERATION = 10;
const START = Date.parse('2026-01-05T00:00:00.000Z'); // a Monday: ISO week 2026-W02
const WEEK = '2026-W02';
const ENVIRONMENT = 'bench';
/** Operations are spread over the week: 100,000 of them five seconds apart fill 5.8 days. */
const SPACING_MS = 5_000;

/**
 * Two operations recorded by the real engine, used as templates: a deploy that succeeds (three
 * steps and a log line) and one whose first step logs five lines and fails. Both are ten events.
 */
const recordTemplates = async (): Promise<EventData[][]> => {
  let now = START;
  const clock = {
    now: () => new Date((now += 1)),
    sleep: async () => {},
  };
  let n = 0;
  const store = createInMemoryEventStore({ now: () => new Date(now) });
  const succeeds = defineOperation({
    type: 'deploy',
    steps: [
      step({ name: 'validate', kind: 'no_side_effects', run: () => undefined }),
      step({
        name: 'start',
        run: ({ log }) => {
          log('started web.1 on node-7');
          return { container: 'web.1' };
        },
        undo: () => undefined,
      }),
      step({ name: 'health check', kind: 'no_side_effects', run: () => undefined }),
    ],
  });
  const fails = defineOperation({
    type: 'restart',
    steps: [
      step({
        name: 'drain',
        kind: 'no_side_effects',
        run: ({ log }) => {
          for (let i = 1; i <= 5; i++) log(`draining connection pool ${i} of 5`);
          throw new Error('the load balancer refused to drain web.1');
        },
      }),
    ],
  });
  const engine = createEngine({
    store,
    operations: [succeeds, fails],
    clock,
    ids: () => `template-${++n}`,
  });
  const templates: EventData[][] = [];
  for (const type of ['deploy', 'restart']) {
    const op = await engine.start({
      type,
      environment: ENVIRONMENT,
      resource: { type: 'app', handle: 'web' },
      user: 'ada@example.com',
      params: { image: 'web:v2' },
    });
    await op.result;
    const events = (await store.readStream(`operation-${op.id}`)).map(
      ({ type: t, version, data, metadata }) => ({
        type: t,
        version,
        data,
        ...(metadata ? { metadata } : {}),
      }),
    );
    if (events.length !== EVENTS_PER_OPERATION) {
      throw new Error(`template ${type} has ${events.length} events, not ${EVENTS_PER_OPERATION}`);
    }
    templates.push(events);
  }
  await engine.shutdown();
  await store.close();
  return templates;
};

const TIMESTAMP = /"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"/g;

/** Operation k: a copy of a template (every tenth one fails) with its own id and time. */
const operationEvents = (templates: EventData[][], texts: string[], k: number) => {
  const t = k % 10 === 9 ? 1 : 0;
  const id = `op-${String(k).padStart(8, '0')}`;
  const shift = k * SPACING_MS;
  const text = texts[t]!.replaceAll(`template-${t + 1}`, id).replace(
    TIMESTAMP,
    (_, at: string) => `"${new Date(Date.parse(at) + shift).toISOString()}"`,
  );
  return { stream: `operation-${id}`, events: JSON.parse(text) as EventData[] };
};

export interface Fixture {
  store: EventStore;
  readStore: ReadStore;
  close(): Promise<void>;
}

/** Fills a store with `events` events (not timed) and opens an empty read store beside it. */
export const fixture = async (o: ProjectionOptions): Promise<Fixture> => {
  const templates = await recordTemplates();
  const texts = templates.map((t) => JSON.stringify(t));
  const operations = Math.floor(o.sizes.events / EVENTS_PER_OPERATION);
  if (o.store === 'memory') {
    const store = createInMemoryEventStore();
    for (let k = 0; k < operations; k++) {
      const { stream, events } = operationEvents(templates, texts, k);
      await store.append(stream, events, { expectedVersion: 'no_stream' });
    }
    const readStore = createInMemoryReadStore();
    return { store, readStore, close: async () => void (await store.close()) };
  }
  const folder = mkdtempSync(join(tmpdir(), 'opledger-bench-projections-'));
  const path = join(folder, 'opledger.db');
  await createSqliteEventStore({ path }).close(); // creates the schema
  // Filled with plain INSERTs in one transaction: the fill is not what is measured.
  const db = new Database(path);
  const insert = db.prepare(
    'INSERT INTO opledger_events (stream, revision, type, version, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (let k = 0; k < operations; k++) {
      const { stream, events } = operationEvents(templates, texts, k);
      const at = new Date(START + k * SPACING_MS).toISOString();
      events.forEach((e, revision) =>
        insert.run(stream, revision, e.type, e.version, JSON.stringify(e.data), null, at),
      );
    }
  })();
  db.close();
  const store = createSqliteEventStore({ path });
  const readStore = createSqliteReadStore({ path });
  return {
    store,
    readStore,
    async close() {
      await readStore.close();
      await store.close();
      rmSync(folder, { recursive: true, force: true });
    },
  };
};

/** JavaScript memory: the V8 heap in use plus what lives outside it (Buffers). */
const jsMemory = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};

/**
 * Samples RSS and JavaScript memory while `work` runs; returns their peaks (bytes) and their
 * values before it started. RSS rarely shrinks once grown, so after a rebuild the growth of the
 * JavaScript memory says more about what an export holds than the growth of RSS does.
 */
const watchRss = async (work: () => Promise<void>) => {
  forceGc();
  const before = process.memoryUsage.rss();
  const jsBefore = jsMemory();
  let peak = before;
  let jsPeak = jsBefore;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
    jsPeak = Math.max(jsPeak, jsMemory());
  };
  const timer = setInterval(sample, 5);
  const started = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - started) / 1000;
  sample();
  return { before, peak, jsBefore, jsPeak, seconds };
};

const MB = 1024 * 1024;

/**
 * Workload 3 on one store: rebuild the operation logs, listings, resources and activity reports
 * from `events` events, then export the week's Activity Report (one row per operation) as CSV.
 * Each run is its own process, so its RSS is its own.
 *
 * The rebuild is measured cold, with no warm-up, on purpose (issue 17, NOTES.md "Rebuild,
 * round 5"): a user's rebuild is one cold process, and a warm-up would report a cost no user
 * pays. The cold process's extra cost (compiling and optimising the projection's code) is a
 * fixed sum spread over the events: measured on memory, 7.8 µs/event cold against 6.5 warm at
 * 200,000 events, and 6.2 cold against 6.3-6.6 warm at 1,000,000; on SQLite cold and warm are
 * the same at 200,000 (12.9 against 12.9-13.4). So at the sizes a rebuild is slow enough to
 * matter the cold figure is the steady state, and at the bench's 200,000 it overstates memory's
 * steady state by about a sixth: read it as such rather than hide it behind a warm-up.
 */
export const runProjections = async (o: ProjectionOptions, rec: Recorder): Promise<void> => {
  const f = await fixture(o);
  const table = `projections-${o.store}`;
  try {
    const head = await f.store.headPosition();
    if (head !== BigInt(o.sizes.events)) throw new Error(`the store holds ${head} events`);
    const projector = createProjector({ store: f.store, readStore: f.readStore });
    let position = 0n;
    // CPU time beside wall-clock: on a shared machine it says what the rebuild itself costs.
    let cpu = process.cpuUsage();
    const rebuild = await watchRss(async () => {
      position = await projector.rebuild();
      cpu = process.cpuUsage(cpu);
    });
    if (position !== head) throw new Error(`rebuilt up to ${position}, not ${head}`);
    rec.set(table, 'rebuild', 'events/s', o.sizes.events / rebuild.seconds, 'events/s');
    rec.set(table, 'rebuild', 'CPU per event', (cpu.user + cpu.system) / o.sizes.events, 'µs');
    rec.set(table, 'rebuild', 'peak RSS', rebuild.peak / MB, 'MB');
    rec.set(table, 'rebuild', 'RSS before', rebuild.before / MB, 'MB');

    const readModel = createReadModel({ readStore: f.readStore });
    let rows = 0;
    let bytes = 0;
    const csv = await watchRss(async () => {
      const stream = await readModel.activityReportCsv(
        ENVIRONMENT,
        { week: WEEK },
        { onRow: (n) => (rows = n) },
      );
      for await (const chunk of stream) bytes += (chunk as Buffer | string).length;
    });
    const expected = o.sizes.events / EVENTS_PER_OPERATION;
    if (rows !== expected) throw new Error(`the report has ${rows} rows, expected ${expected}`);
    rec.set(table, 'CSV export', 'rows/s', rows / csv.seconds, 'rows/s');
    rec.set(table, 'CSV export', 'peak RSS growth', (csv.peak - csv.before) / MB, 'MB');
    // The growth alone can rise when the process's peak falls: a rebuild that leaves less slack
    // in the heap leaves the export fewer resident pages to reuse (bench/NOTES.md, "The CSV row").
    rec.set(table, 'CSV export', 'peak RSS', csv.peak / MB, 'MB');
    rec.set(table, 'CSV export', 'peak JS memory growth', (csv.jsPeak - csv.jsBefore) / MB, 'MB');
    rec.set(table, 'CSV export', 'MB of CSV', bytes / MB, 'MB');
  } finally {
    await f.close();
  }
};
