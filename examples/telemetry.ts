// A service that ships its traces and metrics with the OpenTelemetry Node SDK, and the
// operations it runs in them (docs/telemetry.md). Run it with `npx tsx examples/telemetry.ts`
// (after `npm run build`: it imports the package).
import { metrics, trace } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createEngine, createInMemoryEventStore, defineOperation, step } from 'opledger';

// Stand-ins for the exporters of a real service (OTLP, which the SDK configures from the
// standard OTEL_* variables when none is given): this example prints what they received.
const spanExporter = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const spanProcessor = new SimpleSpanProcessor(spanExporter);
const metricReader = new PeriodicExportingMetricReader({ exporter: metricExporter });
let pulls = 0;
const deploy = defineOperation<{ image: string }>({
  type: 'deploy',
  steps: [
    step({
      name: 'pull image',
      kind: 'no_side_effects',
      alternatives: ['docker.io', 'quay.io'],
      retry: { maxAttempts: 1 },
      run: ({ provider }) => {
        if (pulls++ === 0) throw new Error(`${provider} answered 503`);
      },
    }),
    step({ name: 'start', run: ({ log }) => log('started web:2'), undo: () => undefined }),
  ],
});

// #region sdk
import { NodeSDK } from '@opentelemetry/sdk-node';

const sdk = new NodeSDK({
  serviceName: 'deployer',
  spanProcessors: [spanProcessor], // in production: [new BatchSpanProcessor(new OTLPTraceExporter())]
  metricReaders: [metricReader],
});
// Before the engine: it records through the global tracer and meter named `opledger`.
sdk.start();
const engine = createEngine({ store: createInMemoryEventStore(), operations: [deploy] });
// #endregion sdk

// #region request
// In a request handler: the operation's trace continues the request's (the active context).
const handle = await trace
  .getTracer('deployer')
  .startActiveSpan('POST /apps/web/deploys', async (span) => {
    try {
      return await engine.start({
        type: 'deploy',
        environment: 'production',
        resource: { type: 'app', handle: 'web' },
        user: 'ada@example.com',
        params: { image: 'web:2' },
      });
    } finally {
      span.end();
    }
  });
console.log((await handle.result).status);
// #endregion request

await engine.shutdown();

// #region options
const quieter = createEngine({
  store: createInMemoryEventStore(),
  operations: [deploy],
  telemetry: {
    tracer: trace.getTracer('deployer'),
    meter: metrics.getMeter('deployer'),
    logLines: 'off',
  },
});
// #endregion options
await quieter.shutdown();
// The in-memory exporters forget everything when shut down: read them before the SDK stops.
await spanProcessor.forceFlush();
await metricReader.forceFlush();
const spans = spanExporter.getFinishedSpans();
const request = spans.find((s) => s.name === 'POST /apps/web/deploys')!;
const run = spans.find((s) => s.name === 'opledger deploy')!;
console.log(
  `${run.name} continues ${request.name}: ${run.parentSpanContext?.spanId === request.spanContext().spanId}`,
);
for (const s of spans.filter((s) => s.parentSpanContext?.spanId === run.spanContext().spanId)) {
  console.log(
    `  ${s.name} (${String(s.attributes['opledger.provider'] ?? '-')}): ${String(s.attributes['opledger.outcome'])}`,
  );
}
console.log(`  events: ${run.events.map((e) => e.name).join(', ')}`);
const metricNames = metricExporter
  .getMetrics()
  .flatMap((r) => r.scopeMetrics)
  .filter((s) => s.scope.name === 'opledger')
  .flatMap((s) => s.metrics.map((m) => m.descriptor.name));
console.log(`metrics: ${[...new Set(metricNames)].sort().join(', ')}`);
await sdk.shutdown();
