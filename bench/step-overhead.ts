/**
 * What the durable engine costs a real step (issue 17): operations of five steps that each wait
 * 20 ms (a timer, as a call to a cloud API would), run by an engine on the in-memory store, on
 * SQLite (a real file, with the default `synchronous: 'full'` and with `'normal'`) and on
 * PostgreSQL (the tests' throwaway cluster unless OPLEDGER_BENCH_POSTGRES_URL is set), one
 * operation at a time and 16 in flight. "direct calls" awaits the same five step functions
 * without an engine: what the timers alone cost.
 *
 * Per step it reports the operation's wall time (start() to result, each operation's own) minus
 * 5 x 20 ms, divided by 5, in ms and as a share of the 20 ms step, and the process's CPU time
 * (process.cpuUsage, user + system; PostgreSQL's server is another process, not counted) over
 * the measured operations divided by their steps. "beyond direct calls" subtracts the same
 * round's direct calls, whose only overhead is the timers firing late (a loaded machine fires
 * them later still): what the engine and its store add. Every store and mode gets a fresh store and
 * engine and a warm-up; the contestants alternate round by round in one process (order rotated
 * each round). Prints medians over the rounds with (min - max), as a Markdown table.
 *
 *   npx tsx bench/step-overhead.ts [--rounds 5] [--sequential 20] [--concurrent 96]
 *                                  [--in-flight 16] [--only memory,sqlite,postgres]
 *
 * Run from its source, it compiles itself and the code it measures with tsc (bench/lib/compiled.ts,
 * as the harness's children are) and runs that copy with the same arguments: what is measured
 * is what the package ships, not src/ through tsx, whose `__name` wrappers cost CPU no user pays.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createInMemoryEventStore } from '../src/adapters/memory/index.js';
import { createPostgresEventStore } from '../src/adapters/postgres/index.js';
import { createSqliteEventStore } from '../src/adapters/sqlite/index.js';
import type { EventStore } from '../src/domain/event-store.js';
import { defineOperation, step } from '../src/domain/operation-definition.js';
import { createEngine } from '../src/engine/engine.js';
import { compileBench } from './lib/compiled.js';
import { createDatabase, dropDatabase, openPostgresServer } from './lib/postgres.js';
import { median } from './lib/stats.js';

const option = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1]!;
};
const say = (line: string) => void process.stdout.write(`${line}\n`);
const rounds = Number(option('--rounds', '5'));
const sequentialCount = Number(option('--sequential', '20'));
const concurrentCount = Number(option('--concurrent', '96'));
const inFlight = Number(option('--in-flight', '16'));
const only = option('--only', 'memory,sqlite,postgres').split(',');

const STEP_MS = 20;
const STEPS = 5;
const wait = () => sleep(STEP_MS);

/** Five steps of every kind, each waiting 20 ms, as the engine workload's but with real time. */
const steps = [
  step({ name: 'validate', kind: 'no_side_effects', run: wait }),
  step({ name: 'pull image', run: wait, undo: wait }),
  step({ name: 'start', run: wait, undo: wait }),
  step({ name: 'switch traffic', run: wait, undo: wait }),
  step({ name: 'clean up', kind: 'irreversible', run: wait }),
];
const operation = defineOperation({ type: 'deploy', steps });

interface Contestant {
  name: string;
  /** Runs operation `i` on lane `lane` (its own resource) and resolves when it has ended. */
  open(): Promise<{ runOne(i: number, lane: number): Promise<void>; close(): Promise<void> }>;
}

const onEngine = (store: EventStore, cleanup: () => Promise<void> | void) => {
  const engine = createEngine({ store, operations: [operation] });
  return {
    async runOne(i: number, lane: number) {
      const { result } = await engine.start({
        type: 'deploy',
        environment: 'bench',
        // One resource per lane: operations in flight never queue behind each other.
        resource: { type: 'app', handle: `app-${lane}` },
        user: 'bench@example.com',
        params: { n: i },
      });
      const outcome = await result;
      if (outcome.status !== 'succeeded') throw new Error(outcome.summary);
    },
    async close() {
      await engine.shutdown();
      await store.close();
      await cleanup();
    },
  };
};

const sqlite = (synchronous: 'full' | 'normal'): Contestant => ({
  name: `SQLite file, synchronous '${synchronous}'${synchronous === 'full' ? ' (default)' : ''}`,
  open: async () => {
    const folder = mkdtempSync(join(tmpdir(), 'opledger-bench-step-'));
    const store = createSqliteEventStore({ path: join(folder, 'events.db'), synchronous });
    return onEngine(store, () => rmSync(folder, { recursive: true, force: true }));
  },
});

let databases = 0;
const postgres = (serverUrl: string): Contestant => ({
  name: 'PostgreSQL',
  open: async () => {
    const database = `bench_step_${process.pid}_${databases++}`;
    const url = await createDatabase(serverUrl, database);
    const store = createPostgresEventStore({ connectionString: url });
    await store.headPosition(); // the schema, before anything is timed
    return onEngine(store, () => dropDatabase(serverUrl, database));
  },
});

const direct: Contestant = {
  name: 'direct calls (no engine)',
  open: async () => ({
    async runOne() {
      for (const s of operation.steps) await s.run({} as never);
    },
    close: async () => {},
  }),
};

/** `count` operations, `lanes` at a time: each one's wall time (ms), and the CPU time used (µs). */
const drive = async (
  h: { runOne(i: number, lane: number): Promise<void> },
  count: number,
  lanes: number,
) => {
  const walls: number[] = [];
  let next = 0;
  const lane = async (l: number) => {
    for (let i = next++; i < count; i = next++) {
      const started = performance.now();
      await h.runOne(i, l);
      walls.push(performance.now() - started);
    }
  };
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: lanes }, (_, l) => lane(l)));
  const used = process.cpuUsage(cpu);
  return { walls, cpuUs: used.user + used.system };
};

interface Sample {
  /** Mean over the operations of (wall time - 5 x 20 ms) / 5, in ms. */
  overheadMs: number;
  cpuUsPerStep: number;
}

const measure = async (c: Contestant, count: number, lanes: number): Promise<Sample> => {
  const h = await c.open();
  try {
    await drive(h, Math.min(lanes * 2, 32), lanes); // warm-up: code, statements, pool
    const { walls, cpuUs } = await drive(h, count, lanes);
    const meanWall = walls.reduce((a, b) => a + b, 0) / walls.length;
    return {
      overheadMs: (meanWall - STEPS * STEP_MS) / STEPS,
      cpuUsPerStep: cpuUs / (count * STEPS),
    };
  } finally {
    await h.close();
  }
};

/** The measurement itself, in the compiled copy. */
const main = async () => {
  const server = only.includes('postgres') ? await openPostgresServer() : undefined;
  try {
    const contestants: Contestant[] = [
      direct,
      ...(only.includes('memory')
        ? [{ name: 'memory', open: async () => onEngine(createInMemoryEventStore(), () => {}) }]
        : []),
      ...(only.includes('sqlite') ? [sqlite('full'), sqlite('normal')] : []),
      ...(server ? [postgres(server.url)] : []),
    ];
    const modes = [
      { name: 'one at a time', count: sequentialCount, lanes: 1 },
      { name: `${inFlight} in flight`, count: concurrentCount, lanes: inFlight },
    ];
    const samples = new Map<string, Sample[]>();
    const loads: number[] = [];
    const started = new Date();
    for (let r = 0; r < rounds; r++) {
      loads.push(loadavg()[0]!);
      for (let k = 0; k < contestants.length; k++) {
        const c = contestants[(r + k) % contestants.length]!;
        for (const m of r % 2 === 0 ? modes : [...modes].reverse()) {
          const s = await measure(c, m.count, m.lanes);
          const key = `${c.name}|${m.name}`;
          samples.set(key, [...(samples.get(key) ?? []), s]);
          process.stderr.write(
            `round ${r + 1}: ${key}: ${s.overheadMs.toFixed(2)} ms/step, ${s.cpuUsPerStep.toFixed(0)} µs CPU/step\n`,
          );
        }
      }
    }

    const fmt = (values: number[], digits: number, unit = '') => {
      const f = (v: number) => `${v.toFixed(digits)}${unit}`;
      return `${f(median(values))} (${f(Math.min(...values))} - ${f(Math.max(...values))})`;
    };
    say(
      `${started.toISOString()} to ${new Date().toISOString()}, ${cpus()[0]?.model ?? '?'} x${cpus().length}, Node ${process.version}, 1-minute load at each round's start: ${loads.map((l) => l.toFixed(1)).join(', ')}`,
    );
    say('code: compiled by tsc as the package ships (bench/lib/compiled.ts)');
    if (server) say(`PostgreSQL: ${server.origin}`);
    say(
      `${rounds} rounds; per round and store: ${sequentialCount} operations one at a time, ${concurrentCount} with ${inFlight} in flight (after a warm-up); five steps of ${STEP_MS} ms each\n`,
    );
    say(
      '| store | mode | overhead per step (ms) | share of a 20 ms step | beyond direct calls (ms) | share of a 20 ms step | CPU per step (µs) |',
    );
    say('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
    for (const c of contestants) {
      for (const m of modes) {
        const s = samples.get(`${c.name}|${m.name}`)!;
        const ms = s.map((x) => x.overheadMs);
        // The timers' own lateness (a loaded machine fires them late) is in every row: the same
        // round's direct calls subtracted leave what the engine and its store add.
        const timers = samples.get(`${direct.name}|${m.name}`)!;
        const beyond = ms.map((v, r) => v - timers[r]!.overheadMs);
        say(
          `| ${c.name} | ${m.name} | ${fmt(ms, 2)} | ${fmt(
            ms.map((v) => (v / STEP_MS) * 100),
            1,
            '%',
          )} | ${fmt(beyond, 2)} | ${fmt(
            beyond.map((v) => (v / STEP_MS) * 100),
            1,
            '%',
          )} | ${fmt(
            s.map((x) => x.cpuUsPerStep),
            0,
          )} |`,
        );
      }
    }
  } finally {
    await server?.stop();
  }
};

/** From the source: compile, run the compiled copy with the same arguments, remove it. */
const runCompiled = () => {
  const build = compileBench(resolve(dirname(fileURLToPath(import.meta.url)), '..'));
  try {
    const script = join(build.dir, 'bench', 'step-overhead.js');
    const run = spawnSync(process.execPath, [script, ...process.argv.slice(2)], {
      stdio: 'inherit',
    });
    process.exitCode = run.status ?? 1;
  } finally {
    build.remove();
  }
};

if (import.meta.url.endsWith('.ts')) runCompiled();
else await main();
