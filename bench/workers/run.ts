/**
 * The workers benchmark of issue 16 (`npm run bench:workers`): operations of five steps that each
 * wait 20 ms, run by worker processes on PostgreSQL (a throwaway cluster, as the tests start,
 * unless OPLEDGER_BENCH_POSTGRES_URL is set). Measures throughput with one worker at concurrency
 * 1 and 16, and 2 and 4 workers at 16, each on a fresh database; counts the appends and
 * conflicts per operation, the calls of the append functions (append_events alone, append_batch for
 * a group commit) and the time the store spends in them (pg_stat_user_functions).
 * Prints a Markdown table and writes bench/workers/results.json.
 *
 *   npm run bench:workers                 full sizes
 *   npm run bench:workers -- --quick      fewer operations (a loaded machine, CI)
 *   options: --only 1,2 (configurations by number, from 0), --profile DIR (workers write
 *            CPU profiles there: node --cpu-prof); OPLEDGER_BENCH_POOL_MAX=N sets the workers'
 *            pool size (default 10, pg's default and the store's own)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createPostgresEventStore } from '../../src/adapters/postgres/index.js';
import { createClient } from '../../src/engine/client.js';
import { createDatabase, dropDatabase, openPostgresServer } from '../lib/postgres.js';
import { waitOperation } from './operation.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const quick = process.argv.includes('--quick');
const option = (name: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const profileDir = option('--profile');
const only = option('--only')?.split(',').map(Number);
const say = (line: string) => void process.stdout.write(`${line}\n`);

interface Config {
  name: string;
  workers: number;
  concurrency: number;
  operations: number;
}

const CONFIGS: Config[] = [
  { name: '1 worker, concurrency 1', workers: 1, concurrency: 1, operations: quick ? 30 : 100 },
  { name: '1 worker, concurrency 16', workers: 1, concurrency: 16, operations: quick ? 160 : 640 },
  { name: '2 workers, concurrency 16', workers: 2, concurrency: 16, operations: quick ? 240 : 960 },
  {
    name: '4 workers, concurrency 16',
    workers: 4,
    concurrency: 16,
    operations: quick ? 320 : 1280,
  },
];

interface WorkerCounts {
  appends: number;
  appendMs: number;
  conflicts: number;
  reads: number;
  cpuMs: number;
  /** Queries waiting for one of the pool's 10 connections, on average (sampled every 20 ms). */
  poolWaiting: number;
}

const startWorker = (url: string, identity: string, concurrency: number) => {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', resolve(profileDir)] : []),
      join(here, 'worker-process.ts'),
      url,
      identity,
      String(concurrency),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let counts: WorkerCounts | undefined;
  const ready = new Promise<void>((resolveReady, reject) => {
    child.once('exit', (code) => reject(new Error(`worker ${identity} exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as { kind: string } & WorkerCounts;
      if (message.kind === 'ready') resolveReady();
      if (message.kind === 'counts') counts = message;
    });
  });
  const stop = () =>
    new Promise<WorkerCounts>((resolveStop, reject) => {
      child.removeAllListeners('exit');
      child.once('exit', () =>
        counts ? resolveStop(counts) : reject(new Error(`worker ${identity} left no counts`)),
      );
      child.kill('SIGTERM');
    });
  return { child, ready, stop };
};

const query = async <T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Clock ticks of /proc/PID/stat (USER_HZ: 100 on Linux). */
const TICK_MS = 10;

/**
 * CPU time (ms) the PostgreSQL server has used so far: the postmaster's own, its reaped
 * children's (backends that exited), and its live children's. Undefined when /proc or the
 * data directory cannot be read (a server not started here).
 */
const serverCpuMs = async (url: string): Promise<number | undefined> => {
  try {
    const [row] = await query<{ dir: string }>(
      url,
      'SELECT current_setting($$data_directory$$) AS dir',
    );
    const dir = row!.dir;
    const postmaster = Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const stat = (pid: number) =>
      readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // After "pid (comm) ": state ppid ... utime(12) stime(13) cutime(14) cstime(15), 0-based from state.
    const own = stat(postmaster);
    let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const fields = stat(Number(entry));
        if (Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // The process exited meanwhile: its time is in the postmaster's cutime now.
      }
    }
    return ticks * TICK_MS;
  } catch {
    return undefined;
  }
};

/**
 * What the server's connections to the database are doing, sampled every 20 ms while the run
 * goes on: active ones, and among them those waiting for the append's advisory lock.
 */
const sampleActivity = (serverUrl: string, database: string) => {
  const client = new pg.Client({ connectionString: serverUrl });
  const totals = { samples: 0, active: 0, advisory: 0, otherWaits: 0 };
  let stopped = false;
  const done = (async () => {
    await client.connect();
    while (!stopped) {
      const { rows } = await client.query<{ wt: string | null; we: string | null }>(
        `SELECT wait_event_type AS wt, wait_event AS we FROM pg_stat_activity
          WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()`,
        [database],
      );
      totals.samples++;
      totals.active += rows.length;
      totals.advisory += rows.filter((r) => r.wt === 'Lock' && r.we === 'advisory').length;
      totals.otherWaits += rows.filter(
        (r) => r.wt !== null && !(r.wt === 'Lock' && r.we === 'advisory') && r.wt !== 'Client',
      ).length;
      await sleep(20);
    }
    await client.end();
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
      const n = Math.max(1, totals.samples);
      return {
        activeBackends: totals.active / n,
        waitingForAppendLock: totals.advisory / n,
        otherWaits: totals.otherWaits / n,
      };
    },
  };
};

const runConfig = async (serverUrl: string, config: Config) => {
  const database = `bench_workers_${config.workers}_${config.concurrency}`;
  const url = await createDatabase(serverUrl, database);
  // The store's own time in append_events, the advisory lock's wait included.
  await query(serverUrl, `ALTER DATABASE "${database}" SET track_functions = 'pl'`);
  const store = createPostgresEventStore({ connectionString: url });
  await store.headPosition(); // creates the schema before the workers race to
  const workers: ChildProcess[] = [];
  const handles = Array.from({ length: config.workers }, (_, i) =>
    startWorker(url, `bench-w${i + 1}`, config.concurrency),
  );
  for (const h of handles) workers.push(h.child);
  await Promise.all(handles.map((h) => h.ready));
  const client = createClient({ store, operations: [waitOperation] });
  const serverCpuBefore = await serverCpuMs(serverUrl);
  const activity = sampleActivity(serverUrl, database);
  const started = performance.now();
  // Every request at once, one resource each: no operation queues behind another.
  await Promise.all(
    Array.from({ length: config.operations }, (_, i) =>
      client.start({
        type: 'wait5',
        environment: 'bench',
        resource: { type: 'app', handle: `app-${i}` },
        user: 'bench@example.com',
        params: {},
      }),
    ),
  );
  const requestedAfter = (performance.now() - started) / 1000;
  // Ended operations counted at the store, past the last position seen (a range scan of the
  // primary key): cheaper than one subscription per operation, and than a count of the table.
  const watcher = new pg.Client({ connectionString: url });
  await watcher.connect();
  let endedSoFar = 0;
  let seen = '0';
  while (endedSoFar < config.operations) {
    const { rows } = await watcher.query<{ n: string; last: string | null }>(
      `SELECT count(*) FILTER (WHERE type IN ('OperationSucceeded', 'OperationFailed')) AS n,
              max(global_position) AS last
         FROM opledger.events WHERE global_position > $1`,
      [seen],
    );
    endedSoFar += Number(rows[0]!.n);
    seen = rows[0]!.last ?? seen;
    if (endedSoFar < config.operations) await sleep(50);
  }
  await watcher.end();
  const seconds = (performance.now() - started) / 1000;
  const serverCpuAfter = await serverCpuMs(serverUrl);
  const activeAtStore = await activity.stop();
  const counts = await Promise.all(handles.map((h) => h.stop()));
  await store.close();
  const [events] = await query<{ events: string; appends: string; failed: string }>(
    url,
    `SELECT count(*) AS events,
            count(DISTINCT (stream_name, recorded_at)) AS appends,
            count(*) FILTER (WHERE type = 'OperationFailed') AS failed
       FROM opledger.events`,
  );
  // append_events (an append sent alone) and append_batch (a group commit's batch), if any.
  const [fn] = await query<{ calls: string; total: number }>(
    url,
    `SELECT sum(calls) AS calls, sum(total_time) AS total FROM pg_stat_user_functions
      WHERE funcname IN ('append_events', 'append_batch') HAVING count(*) > 0`,
  );
  await dropDatabase(serverUrl, database);
  const sum = (k: keyof WorkerCounts) => counts.reduce((a, c) => a + c[k], 0);
  const ops = config.operations;
  return {
    ...config,
    seconds,
    requestedAfter,
    opsPerSecond: ops / seconds,
    failed: Number(events!.failed),
    eventsPerOp: Number(events!.events) / ops,
    storedAppendsPerOp: Number(events!.appends) / ops,
    workerAppendsPerOp: sum('appends') / ops,
    conflictsPerOp: sum('conflicts') / ops,
    readsPerOp: sum('reads') / ops,
    workerAppendMs: sum('appendMs') / Math.max(1, sum('appends')),
    storeAppendCalls: Number(fn?.calls ?? 0),
    /** Calls of the append functions per operation: below appends/op when batches form. */
    storeCallsPerOp: Number(fn?.calls ?? 0) / ops,
    storeMsPerAppend: fn ? fn.total / Number(fn.calls) : NaN,
    storeMsPerOp: fn ? fn.total / ops : NaN,
    /** The share of the run's wall time the append functions ran (lock waits included). */
    storeBusy: fn ? fn.total / (seconds * 1000) : NaN,
    workerCpuMsPerOp: sum('cpuMs') / ops,
    /** Cores the workers kept busy on average over the run. */
    workerCores: sum('cpuMs') / (seconds * 1000),
    loadAverage: loadavg()[0] ?? NaN,
    /** The whole server's CPU per operation (the sampler's and the polling's queries included). */
    serverCpuMsPerOp:
      serverCpuBefore !== undefined && serverCpuAfter !== undefined
        ? (serverCpuAfter - serverCpuBefore) / ops
        : NaN,
    ...activeAtStore,
    /** Queries waiting for a pool connection in a worker, on average, summed over workers. */
    poolWaiting: sum('poolWaiting'),
  };
};

const main = async () => {
  const server = await openPostgresServer();
  process.once('SIGINT', () => void server.stop().then(() => process.exit(130)));
  const results = [];
  const date = new Date().toISOString();
  try {
    for (const config of CONFIGS.filter((_, i) => !only || only.includes(i))) {
      const r = await runConfig(server.url, config);
      say(`${config.name}: ${r.opsPerSecond.toFixed(1)} ops/s (${JSON.stringify(r)})`);
      results.push(r);
    }
  } finally {
    await server.stop();
  }
  const machine = `${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, ${Math.round(totalmem() / 1024 ** 3)} GiB, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
  if (!only)
    writeFileSync(
      join(here, 'results.json'),
      `${JSON.stringify({ date, quick, machine, node: process.version, results }, null, 2)}\n`,
    );
  say(`\n${date}, ${quick ? 'quick' : 'full'} mode, ${machine}, Node ${process.version}\n`);
  say(
    '| configuration | operations | ops/s | appends/op | conflicts/op | reads/op | append round trip (ms) | append calls/op | append call time (ms) | store time per op (ms) | append calls busy | worker CPU per op (ms) | worker cores used | server CPU per op (ms) | backends active | waiting for the append lock | queries waiting for a pool connection | load (1 min) |',
  );
  say('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    say(
      `| ${r.name} | ${r.operations} | ${r.opsPerSecond.toFixed(1)} | ${r.workerAppendsPerOp.toFixed(1)} | ${r.conflictsPerOp.toFixed(2)} | ${r.readsPerOp.toFixed(1)} | ${r.workerAppendMs.toFixed(2)} | ${r.storeCallsPerOp.toFixed(1)} | ${r.storeMsPerAppend.toFixed(3)} | ${r.storeMsPerOp.toFixed(2)} | ${(r.storeBusy * 100).toFixed(0)}% | ${r.workerCpuMsPerOp.toFixed(1)} | ${r.workerCores.toFixed(2)} | ${r.serverCpuMsPerOp.toFixed(1)} | ${r.activeBackends.toFixed(2)} | ${r.waitingForAppendLock.toFixed(2)} | ${r.poolWaiting.toFixed(2)} | ${r.loadAverage.toFixed(1)} |`,
    );
  }
  const [one, sixteen, , four] = results;
  if (!one || !sixteen || !four) return;
  say(
    `\n16 in flight / 1 at a time: ${(sixteen.opsPerSecond / one.opsPerSecond).toFixed(1)}x (target 10x); 4 workers / 1 worker: ${(four.opsPerSecond / sixteen.opsPerSecond).toFixed(1)}x (target 3x)`,
  );
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
