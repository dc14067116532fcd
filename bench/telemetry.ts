/**
 * What telemetry costs the engine (issue 19): operations run one at a time on the in-memory
 * store, with telemetry off (`telemetry: false`, as without `@opentelemetry/api`), with the
 * API's no-op providers (the API installed, no SDK registered: the default), and with the SDK
 * recording every span and metric into its in-memory exporters. The three alternate round by
 * round in one process (order rotated each round), after a warm-up; prints medians of
 * operations/s and of CPU time per operation (process.cpuUsage, user + system).
 *
 *   npx tsx bench/telemetry.ts [--rounds 5] [--operations 2000]
 */
import { cpus, loadavg } from 'node:os';
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

const option = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
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

const modes: Record<string, EngineOptions['telemetry']> = {
  off: false,
  'API, no-op providers': undefined,
  'SDK, in-memory exporters': sdk,
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

const names = Object.keys(modes);
for (const name of names) await runRound(modes[name], 300); // warm-up
const results = new Map(
  names.map((n) => [n, [] as { opsPerSecond: number; cpuUsPerOp: number }[]]),
);
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < names.length; k++) {
    const name = names[(r + k) % names.length]!;
    results.get(name)!.push(await runRound(modes[name], operations));
  }
}

const off = median(results.get('off')!.map((x) => x.cpuUsPerOp));
say(
  `${new Date().toISOString()}, ${cpus()[0]?.model ?? '?'} x${cpus().length}, Node ${process.version}, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')}`,
);
say(`${rounds} rounds of ${operations} operations (3 steps each) per mode\n`);
say('| telemetry | operations/s, median (min - max) | CPU per operation, median | vs off |');
say('| --- | ---: | ---: | ---: |');
for (const name of names) {
  const rs = results.get(name)!;
  const ops = rs.map((x) => x.opsPerSecond);
  const cpu = median(rs.map((x) => x.cpuUsPerOp));
  say(
    `| ${name} | ${median(ops).toFixed(0)} (${Math.min(...ops).toFixed(0)} - ${Math.max(...ops).toFixed(0)}) | ${cpu.toFixed(0)} µs | ${(cpu / off).toFixed(2)}x |`,
  );
}
