/**
 * The benchmark harness (`npm run bench`): runs workloads 1 to 4 of issue 7, each run in a
 * child process of its own, and writes results.json and RESULTS.md. It measures the code in the
 * work tree compiled by tsc into bench/.build/ first, as the package ships (bench/lib/compiled.ts
 * says why not through tsx).
 *
 *   npm run bench                      all workloads, full sizes, 5 runs (tens of minutes)
 *   npm run bench -- --quick           small sizes, 2 runs, under a minute (CI)
 *   options: --out DIR (default bench/, or test-results/bench-quick with --quick),
 *            --runs N, --only appends,engine,projections,live-delivery, --profile (--cpu-prof),
 *            --render (rewrite RESULTS.md from results.json and NOTES.md, measuring nothing),
 *            --history 10,10000 (past operations of workload 5, long-history; default 10 to 1M),
 *            --events N (events written by workload 1 and rebuilt by workload 3, instead of the
 *            issue's 100,000 and 1,000,000: a shorter full run; results.json records the sizes),
 *            --busy (measure at once even while tests run; the results say the machine was busy)
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { RunReport } from './lib/measure.js';
import { compileBench } from './lib/compiled.js';
import { openPostgresServer, type PostgresServer } from './lib/postgres.js';
import { RESULT_MARKER, type ChildTask } from './lib/protocol.js';
import { renderMarkdown, type Figure, type Results, type RunMeta } from './lib/report.js';
import { FULL, QUICK, type Plan } from './lib/sizes.js';
import { summarise } from './lib/stats.js';
import { evaluateTargets } from './lib/targets.js';

const WORKLOADS = ['appends', 'engine', 'projections', 'live-delivery', 'long-history'] as const;
type Workload = (typeof WORKLOADS)[number];

/** Progress for whoever runs the harness. */
const say = (line: string) => void process.stdout.write(`${line}\n`);

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

interface Args {
  quick: boolean;
  out: string;
  runs?: number;
  only: Workload[];
  profile: boolean;
  render: boolean;
  history?: number[];
  events?: number;
  busy: boolean;
}

const parseArgs = (argv: string[]): Args => {
  const args: Args = {
    quick: false,
    out: '',
    only: [...WORKLOADS],
    profile: false,
    render: false,
    busy: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') args.quick = true;
    else if (a === '--profile') args.profile = true;
    else if (a === '--render') args.render = true;
    else if (a === '--busy') args.busy = true;
    else if (a === '--out') args.out = value();
    else if (a === '--runs') args.runs = Number(value());
    else if (a === '--history') args.history = value().split(',').map(Number);
    else if (a === '--events') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1000) throw new Error('--events needs an integer ≥ 1000');
      args.events = n;
    } else if (a === '--only') {
      const names = value().split(',');
      for (const n of names) {
        if (!WORKLOADS.includes(n as Workload)) throw new Error(`unknown workload '${n}'`);
      }
      args.only = names as Workload[];
    } else throw new Error(`unknown option '${a}' (see the header of bench/run.ts)`);
  }
  args.out = resolve(args.out || (args.quick ? join(root, 'test-results/bench-quick') : here));
  return args;
};

/** What the children run: the work tree compiled by tsc (bench/lib/compiled.ts), made by main. */
let compiled: ReturnType<typeof compileBench> | undefined;

/** What the results say the children ran. */
const CODE = 'the work tree compiled by tsc, as `npm run build` compiles the package';

/** Runs one task in a child process and returns its report; a failed child fails the run. */
const runChild = (task: ChildTask, args: Args): Promise<RunReport> =>
  new Promise((resolveReport, reject) => {
    if (!compiled) throw new Error('the benchmark is not compiled yet');
    const flags = ['--expose-gc'];
    if (args.profile) flags.push('--cpu-prof', '--cpu-prof-dir', join(args.out, 'profiles'));
    const child = spawn(
      process.execPath,
      [...flags, join(compiled.dir, 'bench', 'child.js'), JSON.stringify(task)],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER));
      if (code !== 0 || !line) {
        reject(
          new Error(
            `${task.workload} child failed (${signal ?? `exit ${code}`}):\n${stderr.slice(-4000)}`,
          ),
        );
        return;
      }
      resolveReport(JSON.parse(line.slice(RESULT_MARKER.length)) as RunReport);
    });
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a full run waits for a test run to end before measuring anyway. */
const QUIET_WAIT_MS = 30 * 60_000;
const QUIET_TRIES = 3;

/**
 * Another session's test run on this 2-core machine would skew the figures: a full run waits
 * until no vitest process runs before each child, watches for one while the child runs, and runs
 * that child again if one appeared. Quick mode (its figures mean nothing) never waits.
 */
const runQuietly = async (
  task: ChildTask,
  args: Args,
): Promise<{ report: RunReport; quiet: boolean }> => {
  if (args.quick || args.busy) {
    const quietBefore = !vitestRunning();
    const report = await runChild(task, args);
    return { report, quiet: quietBefore && !vitestRunning() };
  }
  for (let attempt = 1; ; attempt++) {
    const deadline = Date.now() + QUIET_WAIT_MS;
    if (vitestRunning()) say('a test run (vitest) is going on: waiting for it to end');
    while (vitestRunning() && Date.now() < deadline) await sleep(5_000);
    let disturbed = vitestRunning();
    const watch = setInterval(() => {
      if (vitestRunning()) disturbed = true;
    }, 2_000);
    let report: RunReport;
    try {
      report = await runChild(task, args);
    } finally {
      clearInterval(watch);
    }
    if (vitestRunning()) disturbed = true;
    if (!disturbed) return { report, quiet: true };
    if (attempt >= QUIET_TRIES) return { report, quiet: false };
    say(`${describeTask(task)}: a test run started meanwhile; this run is measured again`);
  }
};

const tasksFor = (w: Workload, run: number, plan: Plan, pgUrl: string | undefined): ChildTask[] => {
  switch (w) {
    case 'appends':
      return (['memory', 'sqlite', 'postgres'] as const).map((store) => ({
        workload: 'appends',
        options: {
          store,
          run,
          ...plan.appends,
          ...(store === 'postgres' ? { postgresUrl: pgUrl } : {}),
        },
      }));
    case 'engine':
      return [{ workload: 'engine', options: { run, ...plan.engine } }];
    case 'projections':
      return (['memory', 'sqlite'] as const).map((store) => ({
        workload: 'projections',
        options: { store, run, ...plan.projections },
      }));
    case 'live-delivery':
      return [
        { workload: 'live-delivery', options: { run, ...plan.liveDelivery, postgresUrl: pgUrl! } },
      ];
    case 'long-history':
      return (['memory', 'sqlite', 'postgres'] as const).map((store) => ({
        workload: 'long-history',
        options: {
          store,
          run,
          ...plan.longHistory,
          ...(store === 'postgres' ? { postgresUrl: pgUrl } : {}),
        },
      }));
  }
};

const describeTask = (t: ChildTask) =>
  'store' in t.options ? `${t.workload} (${t.options.store})` : t.workload;

const vitestRunning = (): boolean => {
  try {
    return execFileSync('pgrep', ['-f', 'vitest'], { encoding: 'utf8' }).trim().length > 0;
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
};

const postgresVersion = async (url: string) => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (
      (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]
        ?.v ?? '?'
    );
  } finally {
    await client.end();
  }
};

const main = async () => {
  const args = parseArgs(process.argv.slice(2));
  if (args.render) {
    // Only RESULTS.md again, from results.json and the current NOTES.md: nothing is measured.
    const saved = JSON.parse(readFileSync(join(args.out, 'results.json'), 'utf8')) as Results;
    saved.targets = evaluateTargets(saved);
    writeResults(args.out, saved);
    say(`rewrote ${relative(process.cwd(), join(args.out, 'RESULTS.md'))}`);
    return;
  }
  const plan: Plan = { ...(args.quick ? QUICK : FULL) };
  if (args.runs !== undefined) plan.runs = args.runs;
  if (args.history) plan.longHistory = { sizes: { pastOperations: args.history } };
  if (args.events !== undefined) {
    // One stream per ten events, as the issue's sizes have it.
    const streams = Math.max(1, Math.round(args.events / 10));
    plan.appends = {
      ...plan.appends,
      sizes: { ...plan.appends.sizes, events: args.events, streams },
    };
    plan.projections = { sizes: { events: args.events } };
  }
  mkdirSync(args.out, { recursive: true });

  const needsPostgres = args.only.some(
    (w) => w === 'appends' || w === 'live-delivery' || w === 'long-history',
  );
  let server: PostgresServer | undefined;
  say('compiling the work tree with tsc (the children run what the package ships)');
  compiled = compileBench(root);
  const stop = async () => {
    await server?.stop();
    server = undefined;
    compiled?.remove();
    compiled = undefined;
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  let pgVersion: string | undefined;
  const outFile = join(args.out, 'results.json');
  const results: Results = { workloads: {}, targets: [], notes: [] };
  // Workloads not run this time keep their figures from an earlier run of the same mode.
  try {
    const previous = JSON.parse(readFileSync(outFile, 'utf8')) as Results;
    for (const [w, r] of Object.entries(previous.workloads ?? {})) {
      if (!args.only.includes(w as Workload) && r.meta?.mode === (args.quick ? 'quick' : 'full')) {
        results.workloads[w] = r;
      }
    }
    results.notes = previous.notes ?? [];
  } catch {
    // No earlier results: this run writes them all.
  }
  const command = [
    'npm run bench',
    ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
  ].join(' ');
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    ramGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${platform()} ${release()}`,
  };
  try {
    if (needsPostgres) {
      server = await openPostgresServer();
      pgVersion = await postgresVersion(server.url);
    }
    for (const w of args.only) {
      const started = new Date();
      const quietAtStart = !vitestRunning();
      const load = loadavg();
      let quietThroughout = quietAtStart;
      const values = new Map<string, number[]>();
      const units = new Map<string, string>();
      for (let run = 0; run < plan.runs; run++) {
        for (const task of tasksFor(w, run, plan, server?.url)) {
          const t0 = performance.now();
          const { report, quiet } = await runQuietly(task, args);
          if (!quiet) quietThroughout = false;
          say(
            `${describeTask(task)}: run ${run + 1}/${plan.runs} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
          );
          for (const [k, v] of Object.entries(report.values)) {
            values.set(k, [...(values.get(k) ?? []), v]);
            units.set(k, report.units[k]!);
          }
          for (const n of report.notes ?? []) if (!results.notes.includes(n)) results.notes.push(n);
        }
      }
      const figures: Figure[] = [];
      for (const [k, runs] of values) {
        const [table, row, column] = k.split('::') as [string, string, string];
        figures.push({ table, row, column, unit: units.get(k)!, ...summarise(runs) });
      }
      const meta: RunMeta = {
        mode: args.quick ? 'quick' : 'full',
        date: started.toISOString(),
        durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
        command,
        node: process.version,
        code: CODE,
        machine,
        quiet: {
          noVitestAtStart: quietAtStart,
          noVitestBeforeEachRun: quietThroughout,
          loadAverageAtStart: load.map((l) => Math.round(l * 100) / 100),
        },
        ...(pgVersion && (w === 'appends' || w === 'live-delivery' || w === 'long-history')
          ? { postgres: { version: pgVersion, origin: server!.origin } }
          : {}),
        runs: plan.runs,
        sizes: sizesOf(w, plan),
      };
      results.workloads[w] = { meta, figures };
      // Written after every workload: a long run interrupted later keeps what it measured.
      results.targets = evaluateTargets(results);
      writeResults(args.out, results);
    }
  } finally {
    await stop();
  }
  say(`wrote ${relative(process.cwd(), outFile)} and RESULTS.md`);
};

const sizesOf = (w: Workload, plan: Plan): unknown => {
  switch (w) {
    case 'appends':
      return plan.appends.sizes;
    case 'engine':
      return plan.engine.sizes;
    case 'projections':
      return plan.projections.sizes;
    case 'live-delivery':
      return plan.liveDelivery.sizes;
    case 'long-history':
      return plan.longHistory.sizes;
  }
};

const ORDER: readonly string[] = WORKLOADS;

const writeResults = (out: string, results: Results) => {
  const ordered: Results = {
    ...results,
    workloads: Object.fromEntries(
      Object.entries(results.workloads).sort(([a], [b]) => ORDER.indexOf(a) - ORDER.indexOf(b)),
    ),
  };
  writeFileSync(join(out, 'results.json'), `${JSON.stringify(ordered, null, 2)}\n`);
  let analysis = '';
  try {
    analysis = readFileSync(join(here, 'NOTES.md'), 'utf8');
  } catch {
    analysis = '';
  }
  writeFileSync(join(out, 'RESULTS.md'), renderMarkdown(ordered, analysis));
};

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
