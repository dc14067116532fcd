/**
 * What telemetry costs the engine (issue 19): operations run one at a time on the in-memory
 * store, with telemetry off (`telemetry: false`, as without `@opentelemetry/api`), with the
 * API's no-op providers (the API installed, no SDK registered: the default), and with the SDK
 * recording every span and metric into its in-memory exporters. Each round of each mode is a
 * process of its own (order rotated each round) that warms up, then measures: one process for
 * all three let a mode pay for the one before it (the garbage of the SDK's thousands of spans,
 * call sites the other modes had made polymorphic). Prints medians of operations/s and of CPU
 * time per operation (process.cpuUsage, user + system), and the median of the per-round ratios
 * to "off" (the rounds of one moment compared with each other, not across the load's swings).
 *
 *   npx tsx bench/telemetry.ts [--rounds 5] [--operations 2000] [--modes off,noop,sdk]
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  type EngineOptions,
} from '../src/index.js';

const argument = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const option = (name: string, fallback: number) => Number(argument(name) ?? fallback);
const say = (line: string) => void process.stdout.write(`${line}\n`);
const rounds = option('--rounds', 5);
const operations = option('--operations', 2000);

const deploy = defineOperation({
  type: 'deploy',
  steps: [
    step({ name: 'pull', kind: 'no_side_effects', run: ({ log }) => log('pulled web:2') }),
    step({ name: 'start', run: () => ({ id: 'c1' }), undo: () => undefined }),
    step({ name: 'switch', run: () => undefined, undo: () => undefined }),
  ],
});

const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 2_147_483_647,
});
const sdk = {
  tracer: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).getTracer(
    'bench',
  ),
  meter: new MeterProvider({ readers: [reader] }).getMeter('bench'),
};

const modes: Record<string, { name: string; telemetry: EngineOptions['telemetry'] }> = {
  off: { name: 'off', telemetry: false },
  noop: { name: 'API, no-op providers', telemetry: undefined },
  sdk: { name: 'SDK, in-memory exporters', telemetry: sdk },
};

const runRound = async (telemetry: EngineOptions['telemetry'], count: number) => {
  spans.reset();
  const engine = createEngine({
    store: createInMemoryEventStore(),
    operations: [deploy],
    telemetry,
  });
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const { result } = await engine.start({
      type: 'deploy',
      environment: 'production',
      resource: { type: 'app', handle: 'web' },
      user: 'bench',
    });
    await result;
  }
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  await engine.shutdown();
  // Each operation is a run and its three attempts: four spans, all recorded.
  if (telemetry === sdk && spans.getFinishedSpans().length !== count * 4) {
    throw new Error(
      `the SDK recorded ${spans.getFinishedSpans().length} spans for ${count} operations`,
    );
  }
  return { opsPerSecond: (count / ms) * 1000, cpuUsPerOp: (used.user + used.system) / count };
};

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

type Round = Awaited<ReturnType<typeof runRound>>;
const child = argument('--child');
if (child !== undefined) {
  // One round of one mode: a warm-up of the same size, then the round measured.
  const mode = modes[child]!;
  await runRound(mode.telemetry, operations);
  say(JSON.stringify(await runRound(mode.telemetry, operations)));
  process.exit(0);
}

const keys = (argument('--modes') ?? 'off,noop,sdk').split(',');
const here = fileURLToPath(import.meta.url);
const results = new Map(keys.map((k) => [k, [] as Round[]]));
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < keys.length; k++) {
    const key = keys[(r + k) % keys.length]!;
    // The same node, with tsx's loader (in execArgv), on this file.
    const ran = spawnSync(
      process.execPath,
      [...process.execArgv, here, '--child', key, '--operations', String(operations)],
      { encoding: 'utf8' },
    );
    if (ran.status !== 0) throw new Error(`round ${r} of ${key} failed: ${ran.stderr}`);
    results.get(key)!.push(JSON.parse(ran.stdout.trim().split('\n').at(-1)!) as Round);
  }
}

const cpuOf = (key: string) => results.get(key)!.map((x) => x.cpuUsPerOp);
const off = results.has('off') ? cpuOf('off') : undefined;
say(
  `${new Date().toISOString()}, ${cpus()[0]?.model ?? '?'} x${cpus().length}, Node ${process.version}, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')}`,
);
say(`${rounds} rounds of ${operations} operations (3 steps each) per mode\n`);
say(
  '| telemetry | operations/s, median (min - max) | CPU per operation, median (min - max) | vs off, median of the rounds |',
);
say('| --- | ---: | ---: | ---: |');
const range = (xs: number[], unit = '') =>
  `${median(xs).toFixed(0)}${unit} (${Math.min(...xs).toFixed(0)} - ${Math.max(...xs).toFixed(0)})`;
for (const key of keys) {
  const ops = results.get(key)!.map((x) => x.opsPerSecond);
  const cpu = cpuOf(key);
  const ratio = off ? `${median(cpu.map((c, r) => c / off[r]!)).toFixed(2)}x` : '-';
  say(`| ${modes[key]!.name} | ${range(ops)} | ${range(cpu, ' µs')} | ${ratio} |`);
}
say(
  `\nper round, CPU µs per operation: ${keys
    .map(
      (k) =>
        `${k} ${cpuOf(k)
          .map((c) => c.toFixed(0))
          .join(' ')}`,
    )
    .join('; ')}`,
);
