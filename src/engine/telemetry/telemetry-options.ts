// The public shapes of the telemetry options, apart from the code that uses them: they import
// nothing from `@opentelemetry/api`, so that the declarations of a package whose user has not
// installed it (an optional peer) still type-check with skipLibCheck off.

/**
 * Where opledger records its traces and metrics (see docs/telemetry.md). Typed by shape, so that
 * code that never uses OpenTelemetry needs none of its types: an OpenTelemetry `Tracer` and
 * `Meter` fit.
 */
export interface TelemetryOptions {
  /** Default: the global tracer provider's tracer `opledger` (none registered: nothing recorded). */
  tracer?: { startSpan: (...args: never[]) => unknown };
  /** Default: the global meter provider's meter `opledger`. */
  meter?: { createCounter: (...args: never[]) => unknown };
  /** 'events' (default): each log line is a span event; 'off' leaves them out of traces. */
  logLines?: 'events' | 'off';
}

/** `false` records nothing and costs nothing, whether or not `@opentelemetry/api` is installed. */
export type TelemetrySetting = TelemetryOptions | false;

/**
 * A trace context as it travels between processes: the W3C Trace Context headers, what
 * `propagation.inject` writes into a carrier (an HTTP request's headers, for one).
 */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

/** An OpenTelemetry `Context` (from `context.active()`), told apart without importing the API. */
export interface ContextLike {
  getValue(key: symbol): unknown;
}

/** What `start({ traceContext })` takes: a carrier of the W3C headers, or a `Context`. */
export type TraceContextInput = TraceCarrier | ContextLike;
