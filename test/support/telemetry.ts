import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import {
  createEngine,
  type EngineOptions,
  type EventStore,
  type OperationDefinition,
  type RecordedEvent,
} from '../../src/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';

/**
 * A tracer and a meter that keep what they record in memory (the SDK's in-memory exporters), to
 * compare with the events: handed to the engine explicitly, so tests never share a global.
 */
export const createRecordingTelemetry = () => {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(spans)],
  });
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({
    exporter: metrics,
    // Never on its own: the test collects when it has something to compare.
    exportIntervalMillis: 2_147_483_647,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    options: {
      tracer: tracerProvider.getTracer('test'),
      meter: meterProvider.getMeter('test'),
    },
    tracerProvider,
    meterProvider,
    finishedSpans: (): ReadableSpan[] => spans.getFinishedSpans(),
    /** Every data point of the metric `name` now, as [attributes, value] pairs. */
    metric: async (name: string): Promise<DataPoint<unknown>[]> => {
      metrics.reset();
      await reader.forceFlush();
      const found = metrics
        .getMetrics()
        .flatMap((r) => r.scopeMetrics)
        .flatMap((s) => s.metrics)
        .filter((m) => m.descriptor.name === name);
      return found.flatMap((m) => m.dataPoints as DataPoint<unknown>[]);
    },
  };
};

export type RecordingTelemetry = ReturnType<typeof createRecordingTelemetry>;

/**
 * An engine on `store` with `telemetry` (undefined: the global providers, as in production),
 * a virtual clock and ids op-1, op-2…, so that runs and their spans compare across engines.
 */
export const telemetryEngine = (
  store: EventStore,
  operations: OperationDefinition[],
  telemetry: EngineOptions['telemetry'],
) =>
  createEngine({
    store,
    operations,
    clock: createVirtualClock(),
    ids: createSequentialIds('op-'),
    telemetry,
  });

/** The sum of a counter's data points whose attributes include `where`. */
export const sumWhere = (points: DataPoint<unknown>[], where: Record<string, unknown> = {}) =>
  points
    .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + (p.value as number), 0);

/** Histogram data points: how many values were recorded. */
export const countWhere = (points: DataPoint<unknown>[], where: Record<string, unknown> = {}) =>
  points
    .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + (p.value as { count: number }).count, 0);

const RUN_SPAN_EVENTS: Record<string, string> = {
  OperationClaimed: 'opledger.claimed',
  OperationTakenOver: 'opledger.taken_over',
  OperationStarted: 'opledger.started',
  CancellationRequested: 'opledger.cancellation',
  OperationFailed: 'opledger.failed',
  RollbackStarted: 'opledger.rollback.started',
  StepNotUndoable: 'opledger.not_undone',
  RollbackFinished: 'opledger.rollback.finished',
  OperationSucceeded: 'opledger.succeeded',
};

type Data = Record<string, unknown> & { step: string; attempt: number };

/**
 * What the trace of one run should hold, written from the events alone (independently of the
 * code under test): its attempt and undo spans, and its span events in order, log lines apart.
 */
export const expectedRun = (events: readonly RecordedEvent[]) => {
  const children: string[] = [];
  const spanEvents: string[] = [];
  let logs = 0;
  const outcomeOf = (types: string[], d: Data) => {
    const end = events.find(
      (e) =>
        types.includes(e.type) &&
        (e.data as Data).step === d.step &&
        (e.data as Data).attempt === d.attempt &&
        (e.data as Data).provider === d.provider,
    );
    if (!end) return 'open';
    return end.type === 'StepSucceeded' || end.type === 'StepUndone' ? 'succeeded' : 'failed';
  };
  for (const e of events) {
    const d = e.data as Data;
    if (e.type === 'StepStarted') {
      children.push(
        `step ${d.step}#${d.attempt}${d.provider ? `@${String(d.provider)}` : ''}:${outcomeOf(['StepSucceeded', 'StepFailed'], d)}`,
      );
    } else if (e.type === 'StepUndoStarted') {
      children.push(
        `undo ${d.step}#${d.attempt}:${outcomeOf(['StepUndone', 'StepUndoFailed'], d)}`,
      );
    } else if (e.type === 'LogWritten') {
      logs++;
    } else if (e.type === 'StepFailed' && d.failoverTo) {
      spanEvents.push('opledger.failover');
    } else if (RUN_SPAN_EVENTS[e.type]) {
      spanEvents.push(RUN_SPAN_EVENTS[e.type]!);
    }
  }
  return { children: children.sort(), spanEvents, logs };
};

/** The same, read from the spans of one run (the span `run` and its children). */
export const actualRun = (spans: readonly ReadableSpan[], run: ReadableSpan) => {
  const children = spans.filter((s) => s.parentSpanContext?.spanId === run.spanContext().spanId);
  const attr = (s: ReadableSpan, k: string) => s.attributes[k];
  return {
    children: children
      .map(
        (s) =>
          `${s.name}#${String(attr(s, 'opledger.attempt'))}${attr(s, 'opledger.provider') ? `@${String(attr(s, 'opledger.provider'))}` : ''}:${String(attr(s, 'opledger.outcome'))}`,
      )
      .sort(),
    spanEvents: run.events.filter((e) => e.name !== 'log').map((e) => e.name),
    logs: [run, ...children].reduce(
      (n, s) => n + s.events.filter((e) => e.name === 'log').length,
      0,
    ),
  };
};
