import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  Tracer,
  UpDownCounter,
} from '@opentelemetry/api';
import { loadOtelApi, type OtelApi } from './otel-api.js';
import { INSTRUMENTATION_SCOPE, METRIC } from './names.js';
import type { TelemetrySetting, TraceContextInput } from './telemetry-options.js';
import { traceMetadata } from './trace-context.js';

export interface Instruments {
  started: Counter;
  ended: Counter;
  duration: Histogram;
  queueWait: Histogram;
  running: UpDownCounter;
  queued: UpDownCounter;
  retried: Counter;
  failedOver: Counter;
  undosFailed: Counter;
  leases: UpDownCounter;
  takeovers: Counter;
}

export interface Telemetry {
  api: OtelApi;
  /**
   * The tracer given, or the global provider's tracer `opledger` as it is now: read at the start
   * of each run, whose spans then all come from it, so that a provider registered (or replaced)
   * after the engine was created records the runs that start after it.
   */
  readonly tracer: Tracer;
  instruments: Instruments;
  logLines: 'events' | 'off';
  /**
   * True while nothing would be recorded: no tracer or meter given, and no global provider
   * registered. Checked at each append (a few property reads, no allocation), so that a provider
   * registered later is used from then.
   */
  isIdle(): boolean;
  /** The metadata that carries a request's trace context (the active one when omitted). */
  traceMetadata(input: TraceContextInput | undefined): Record<string, string> | undefined;
}

const instrumentsOf = (meter: Meter): Instruments => ({
  started: meter.createCounter(METRIC.started, {
    description: 'Operations that started running (a takeover is not a new start).',
  }),
  ended: meter.createCounter(METRIC.ended, {
    description: 'Operations that ended, rollback included, by outcome and rollback outcome.',
  }),
  duration: meter.createHistogram(METRIC.duration, {
    description: 'From the start of an operation to its end, rollback included.',
    unit: 's',
  }),
  queueWait: meter.createHistogram(METRIC.queueWait, {
    description: 'From the request of an operation to its start (its turn on its resource).',
    unit: 's',
  }),
  running: meter.createUpDownCounter(METRIC.running, {
    description: 'Operations running in this process.',
  }),
  queued: meter.createUpDownCounter(METRIC.queued, {
    description:
      'Operations requested and not yet started: requests add one where they are written, starts take one away where they run; the sum over processes is what waits.',
  }),
  retried: meter.createCounter(METRIC.retried, {
    description: 'Step attempts that failed and will be tried again with the same provider.',
  }),
  failedOver: meter.createCounter(METRIC.failedOver, {
    description: 'Step attempts that failed and handed the step to the next provider.',
  }),
  undosFailed: meter.createCounter(METRIC.undosFailed, {
    description: 'Undos that failed for good: their step stays not undone.',
  }),
  leases: meter.createUpDownCounter(METRIC.leases, {
    description: 'Worker leases held by this process.',
  }),
  takeovers: meter.createCounter(METRIC.takeovers, {
    description: 'Operations this process took over from a worker whose lease ended.',
  }),
});

/**
 * The telemetry an engine, worker or client records through, or undefined when there is none to
 * record: `telemetry: false`, or `@opentelemetry/api` not installed. With the API and no provider
 * registered, nothing is called (see `isIdle`). A tracer provider registered later (as the CLI's
 * `--otel` does) is used for the runs that start from then on; a meter provider must be
 * registered no later than the tracer provider (the instruments are made at the first count).
 */
export const createTelemetry = (setting: TelemetrySetting | undefined): Telemetry | undefined => {
  if (setting === false) return undefined;
  const api = loadOtelApi();
  if (!api) return undefined;
  const options = setting ?? {};
  const givenTracer = options.tracer as Tracer | undefined;
  let instruments: Instruments | undefined;
  // The API's own no-op tracer provider: what the global proxy delegates to until an SDK is
  // registered. The metrics API has no proxy; its no-op provider is told by its class.
  const noopTracers = new api.ProxyTracerProvider().getDelegate();
  const given = options.tracer !== undefined || options.meter !== undefined;
  return {
    isIdle: () =>
      !given &&
      (
        api.trace.getTracerProvider() as InstanceType<OtelApi['ProxyTracerProvider']>
      ).getDelegate() === noopTracers &&
      api.metrics.getMeterProvider().constructor.name === 'NoopMeterProvider',
    api,
    // Not one tracer taken here: the API's global tracer proxy binds itself to the first
    // provider it delegates to, and would keep recording there after `trace.disable()` and the
    // registration of another.
    get tracer() {
      return givenTracer ?? api.trace.getTracer(INSTRUMENTATION_SCOPE);
    },
    // Made at the first thing to count, not here: the metrics API has no proxy that follows a
    // meter provider registered later, so a service that registers it after creating its
    // engine (or the CLI, after parsing its flags) still gets its metrics.
    get instruments() {
      return (instruments ??= instrumentsOf(
        (options.meter as Meter | undefined) ?? api.metrics.getMeter(INSTRUMENTATION_SCOPE),
      ));
    },
    logLines: options.logLines ?? 'events',
    traceMetadata: (input) => traceMetadata(api, input),
  };
};

export type { Attributes };
