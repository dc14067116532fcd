import type * as OtelApi from '@opentelemetry/api';
import type * as OtelMetricExporter from '@opentelemetry/exporter-metrics-otlp-http';
import type * as OtelTraceExporter from '@opentelemetry/exporter-trace-otlp-http';
import type * as OtelResources from '@opentelemetry/resources';
import type * as OtelMetrics from '@opentelemetry/sdk-metrics';
import type * as OtelTraceNode from '@opentelemetry/sdk-trace-node';
import { OpledgerError } from '../domain/errors.js';
import { isPackageNotFound } from '../adapters/peer-dependency.js';
import { println, type CliIo } from './cli-io.js';

/**
 * The OpenTelemetry packages `--otel` loads, with the ranges that run on Node.js 20 (the 0.300
 * exporters and the 3.x SDK need Node.js 22). Optional peer dependencies of opledger: only the
 * commands that export telemetry load them, so a project that never does installs none.
 */
export const TELEMETRY_PACKAGES = [
  { name: '@opentelemetry/api', version: '^1.9.0' },
  { name: '@opentelemetry/sdk-trace-node', version: '^2.12.0' },
  { name: '@opentelemetry/sdk-metrics', version: '^2.12.0' },
  { name: '@opentelemetry/resources', version: '^2.12.0' },
  { name: '@opentelemetry/exporter-trace-otlp-http', version: '^0.223.0' },
  { name: '@opentelemetry/exporter-metrics-otlp-http', version: '^0.223.0' },
] as const;

type TelemetryPackageName = (typeof TELEMETRY_PACKAGES)[number]['name'];

/** What `--otel` turns on, and why, for the messages. */
export type TelemetryTrigger = '--otel' | 'OTEL_EXPORTER_OTLP_ENDPOINT';

/**
 * `--otel` (or OTEL_EXPORTER_OTLP_ENDPOINT set) needs OpenTelemetry's packages and some are not
 * installed. Names every missing one in a single install command, so that one try fixes it.
 */
export class TelemetryPackagesMissingError extends OpledgerError {
  constructor(
    readonly packages: readonly string[],
    trigger: TelemetryTrigger,
    options: { cause?: unknown } = {},
  ) {
    const specs = packages.map((name) => {
      const known = TELEMETRY_PACKAGES.find((p) => p.name === name);
      return known ? `${name}@${known.version}` : name;
    });
    const why = trigger === '--otel' ? '--otel' : 'OTEL_EXPORTER_OTLP_ENDPOINT being set';
    super(
      'TELEMETRY_PACKAGES_MISSING',
      `${why} turns on the OpenTelemetry export, which needs the optional peer ${packages.length === 1 ? 'dependency' : 'dependencies'} ${packages.map((p) => `'${p}'`).join(', ')}, not installed: run \`npm install ${specs.join(' ')}\` in your project${trigger === '--otel' ? '' : ', or set OTEL_SDK_DISABLED=true to run without telemetry'}.`,
      options,
    );
  }
}

export interface TelemetryModules {
  api: typeof OtelApi;
  traceNode: typeof OtelTraceNode;
  metrics: typeof OtelMetrics;
  resources: typeof OtelResources;
  traceExporter: typeof OtelTraceExporter;
  metricExporter: typeof OtelMetricExporter;
}

/** How a package is loaded; the tests pass one that resolves from a folder without them. */
export type PackageLoader = (name: TelemetryPackageName) => Promise<unknown>;

const importPackage: PackageLoader = (name) => import(name);

/**
 * Loads every telemetry package, or throws one TelemetryPackagesMissingError naming all those
 * missing. A package that is there but fails to load (a broken install, a missing dependency of
 * its own) surfaces with its own error.
 */
export const loadTelemetryPackages = async (
  trigger: TelemetryTrigger,
  load: PackageLoader = importPackage,
): Promise<TelemetryModules> => {
  const settled = await Promise.allSettled(TELEMETRY_PACKAGES.map((p) => load(p.name)));
  const missing: string[] = [];
  let firstMissing: unknown;
  for (const [i, outcome] of settled.entries()) {
    if (outcome.status === 'fulfilled') continue;
    const name = TELEMETRY_PACKAGES[i]!.name;
    if (!isPackageNotFound(outcome.reason, name)) throw outcome.reason;
    missing.push(name);
    firstMissing ??= outcome.reason;
  }
  if (missing.length > 0) {
    throw new TelemetryPackagesMissingError(missing, trigger, { cause: firstMissing });
  }
  const [api, traceNode, metrics, resources, traceExporter, metricExporter] = settled.map(
    (s) => (s as PromiseFulfilledResult<unknown>).value,
  );
  return {
    api: api as typeof OtelApi,
    traceNode: traceNode as typeof OtelTraceNode,
    metrics: metrics as typeof OtelMetrics,
    resources: resources as typeof OtelResources,
    traceExporter: traceExporter as typeof OtelTraceExporter,
    metricExporter: metricExporter as typeof OtelMetricExporter,
  };
};

const isTrue = (value: string | undefined) => value?.trim().toLowerCase() === 'true';

/**
 * Whether a command exports telemetry: `--otel`, or OTEL_EXPORTER_OTLP_ENDPOINT set (as the
 * OpenTelemetry SDKs read it), unless OTEL_SDK_DISABLED=true, which the specification makes win.
 */
export const telemetryTrigger = (
  flag: boolean | undefined,
  env: NodeJS.ProcessEnv,
): TelemetryTrigger | undefined => {
  if (isTrue(env.OTEL_SDK_DISABLED)) return undefined;
  if (flag === true) return '--otel';
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()) return 'OTEL_EXPORTER_OTLP_ENDPOINT';
  return undefined;
};

/** Attributes of a command's root span, after OpenTelemetry's conventions for CLI programs. */
export const CLI_SPAN_ATTRIBUTES = {
  command: 'opledger.cli.command',
  executable: 'process.executable.name',
  pid: 'process.pid',
  exitCode: 'process.exit.code',
  errorType: 'error.type',
} as const;

/** The instrumentation scope of the commands' root spans (the engine's is 'opledger'). */
export const CLI_TRACER_NAME = 'opledger/cli';

export interface CommandSpan {
  /** Its name, e.g. `opledger run app.deploy`: low cardinality, no ids, no params. */
  name: string;
  /** The command, e.g. `run`. */
  command: string;
  /** More attributes (the operation type and environment of `run`). */
  attributes?: Record<string, string>;
}

export interface CliTelemetry {
  /**
   * Runs a command inside its root span, so that what the engine traces becomes its children;
   * the span ends with the command's exit code (an error status unless 0) or its error.
   */
  inCommandSpan(span: CommandSpan, work: () => Promise<number>): Promise<number>;
  /** Exports what is still buffered, then unregisters the global providers. */
  shutdown(): Promise<void>;
}

const positiveNumber = (value: string | undefined): number | undefined => {
  const n = Number(value);
  return value?.trim() && Number.isFinite(n) && n > 0 ? n : undefined;
};

const DIAG_LEVELS = ['NONE', 'ERROR', 'WARN', 'INFO', 'DEBUG', 'VERBOSE', 'ALL'] as const;

/**
 * Registers global tracer and meter providers that export over OTLP/HTTP (JSON), configured by
 * the standard variables: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the resource),
 * OTEL_EXPORTER_OTLP_ENDPOINT, _HEADERS, _TIMEOUT and their per-signal forms (the exporters),
 * OTEL_TRACES_SAMPLER, OTEL_BSP_* (the span processor), OTEL_METRIC_EXPORT_INTERVAL and
 * _TIMEOUT (the metric reader), OTEL_LOG_LEVEL (the SDK's own problems, on stderr). The engine
 * then traces and measures through `trace.getTracer('opledger')` and `metrics.getMeter('opledger')`
 * with no option. A `TRACEPARENT` variable (W3C trace context, as CI systems pass it) makes each
 * command span a child of that trace.
 *
 * @example
 * ```ts
 * const telemetry = await startCliTelemetry(modules, { env: process.env, err: process.stderr, version: '0.1.0' });
 * try {
 *   return await telemetry.inCommandSpan({ name: 'opledger demo', command: 'demo' }, () => demo());
 * } finally {
 *   await telemetry.shutdown();
 * }
 * ```
 */
export const startCliTelemetry = async (
  modules: TelemetryModules,
  options: { env: NodeJS.ProcessEnv; err: CliIo['err']; version: string },
): Promise<CliTelemetry> => {
  const { api, traceNode, metrics, resources, traceExporter, metricExporter } = modules;
  const { env } = options;

  // The SDK reports its own trouble (an unreachable collector) through diag, silent by default:
  // a user who asked for an export should hear why nothing arrives.
  const level = env.OTEL_LOG_LEVEL?.trim().toUpperCase() ?? 'WARN';
  const diagLevel = (DIAG_LEVELS as readonly string[]).includes(level)
    ? api.DiagLogLevel[level as (typeof DIAG_LEVELS)[number]]
    : api.DiagLogLevel.WARN;
  const say = (...args: unknown[]) =>
    println(options.err, `OpenTelemetry: ${args.map((a) => String(a)).join(' ')}`);
  api.diag.setLogger(
    { error: say, warn: say, info: say, debug: say, verbose: say },
    { logLevel: diagLevel, suppressOverrideMessage: true },
  );

  // Ours over the SDK's defaults (service.name "unknown_service:node"), the user's over ours.
  const detected = resources.detectResources({ detectors: [resources.envDetector] });
  await detected.waitForAsyncAttributes?.();
  const resource = resources
    .defaultResource()
    .merge(
      resources.resourceFromAttributes({
        'service.name': 'opledger',
        'service.version': options.version,
      }),
    )
    .merge(detected);

  const tracerProvider = new traceNode.NodeTracerProvider({
    resource,
    spanProcessors: [new traceNode.BatchSpanProcessor(new traceExporter.OTLPTraceExporter())],
  });
  // Also the AsyncLocalStorage context manager, without which the engine's spans would not
  // find the command span as their parent, and the W3C propagator that reads TRACEPARENT.
  tracerProvider.register();

  const interval = positiveNumber(env.OTEL_METRIC_EXPORT_INTERVAL) ?? 60_000;
  const timeout = positiveNumber(env.OTEL_METRIC_EXPORT_TIMEOUT) ?? 30_000;
  const meterProvider = new metrics.MeterProvider({
    resource,
    readers: [
      new metrics.PeriodicExportingMetricReader({
        exporter: new metricExporter.OTLPMetricExporter(),
        exportIntervalMillis: interval,
        exportTimeoutMillis: Math.min(timeout, interval),
      }),
    ],
  });
  api.metrics.setGlobalMeterProvider(meterProvider);

  const tracer = api.trace.getTracer(CLI_TRACER_NAME, options.version);

  return {
    inCommandSpan: (span, work) => {
      const carrier: Record<string, string> = {};
      if (env.TRACEPARENT) carrier.traceparent = env.TRACEPARENT;
      if (env.TRACESTATE) carrier.tracestate = env.TRACESTATE;
      const parent = api.propagation.extract(api.ROOT_CONTEXT, carrier);
      return tracer.startActiveSpan(
        span.name,
        {
          kind: api.SpanKind.INTERNAL,
          attributes: {
            [CLI_SPAN_ATTRIBUTES.command]: span.command,
            [CLI_SPAN_ATTRIBUTES.executable]: 'opledger',
            [CLI_SPAN_ATTRIBUTES.pid]: process.pid,
            ...span.attributes,
          },
        },
        parent,
        async (root) => {
          try {
            const code = await work();
            root.setAttribute(CLI_SPAN_ATTRIBUTES.exitCode, code);
            if (code !== 0) {
              root.setStatus({ code: api.SpanStatusCode.ERROR, message: `exit code ${code}` });
            }
            return code;
          } catch (error) {
            const code = (error as { code?: unknown } | null)?.code;
            root.setAttribute(
              CLI_SPAN_ATTRIBUTES.errorType,
              typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown',
            );
            root.recordException(error instanceof Error ? error : String(error));
            root.setStatus({
              code: api.SpanStatusCode.ERROR,
              message: error instanceof Error ? error.message : String(error),
            });
            throw error;
          } finally {
            root.end();
          }
        },
      );
    },
    shutdown: async () => {
      // shutdown() exports what the batch processor and the metric reader still hold.
      const outcomes = await Promise.allSettled([
        tracerProvider.shutdown(),
        meterProvider.shutdown(),
      ]);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') {
          say(
            'could not export everything before exiting:',
            outcome.reason instanceof Error ? outcome.reason.message : outcome.reason,
          );
        }
      }
      // Unregistered, so that a later command in this process (tests, embedders) can register
      // its own providers: the API refuses a second registration otherwise.
      api.trace.disable();
      api.metrics.disable();
      api.propagation.disable();
      api.context.disable();
      api.diag.disable();
    },
  };
};

/**
 * Runs a command with telemetry when `--otel` or the environment asks for it: loads the
 * packages, registers the providers before the command creates its engine, runs it in its root
 * span, and flushes and shuts the providers down before returning (also when the command
 * ends early on a stop signal, which the commands turn into a graceful stop).
 *
 * @example
 * ```ts
 * const code = await withCliTelemetry(io, { otel: true, version: VERSION }, { name: 'opledger demo', command: 'demo' }, () => demoCommand(o, io));
 * ```
 */
export const withCliTelemetry = async (
  io: CliIo,
  options: { otel: boolean | undefined; version: string; load?: PackageLoader },
  span: CommandSpan | undefined,
  work: () => Promise<number>,
): Promise<number> => {
  const trigger = telemetryTrigger(options.otel, io.env);
  if (!trigger) {
    if (options.otel) println(io.err, '--otel: OTEL_SDK_DISABLED=true, so nothing is exported');
    return work();
  }
  const modules = await loadTelemetryPackages(trigger, options.load);
  const telemetry = await startCliTelemetry(modules, {
    env: io.env,
    err: io.err,
    version: options.version,
  });
  try {
    return span ? await telemetry.inCommandSpan(span, work) : await work();
  } finally {
    await telemetry.shutdown();
  }
};
