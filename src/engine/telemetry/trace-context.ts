import type { Context, SpanContext, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import type { OtelApi } from './otel-api.js';
import { TRACEPARENT, TRACESTATE } from './names.js';
import type { ContextLike, TraceContextInput } from './telemetry-options.js';

const setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};
const getter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    return typeof value === 'string' ? value : undefined;
  },
};

const TRACEPARENT_FORMAT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C header of a span context: written ourselves when no propagator is registered. */
export const formatTraceparent = (span: SpanContext): string =>
  `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, '0')}`;

const isContext = (value: TraceContextInput): value is ContextLike =>
  typeof (value as ContextLike | undefined)?.getValue === 'function';

/**
 * The metadata that carries `input` (or the active context when it is omitted) in an event: the
 * application's propagator writes it (W3C, B3, baggage, as configured), and the W3C
 * `traceparent` is written anyway when that propagator wrote none (none registered), so that a
 * process of ours on the other side can always continue the trace. Undefined when there is no
 * valid span in it.
 */
export const traceMetadata = (
  api: OtelApi,
  input: TraceContextInput | undefined,
): Record<string, string> | undefined => {
  if (input !== undefined && !isContext(input)) {
    // A carrier given by the caller is already what travels; keep only what we understand.
    if (typeof input.traceparent !== 'string' || !TRACEPARENT_FORMAT.test(input.traceparent)) {
      return undefined;
    }
    return {
      [TRACEPARENT]: input.traceparent,
      ...(typeof input.tracestate === 'string' ? { [TRACESTATE]: input.tracestate } : {}),
    };
  }
  const context = (input as Context | undefined) ?? api.context.active();
  const span = api.trace.getSpanContext(context);
  if (!span || !api.trace.isSpanContextValid(span)) return undefined;
  const carrier: Record<string, string> = {};
  api.propagation.inject(context, carrier, setter);
  carrier[TRACEPARENT] ??= formatTraceparent(span);
  return carrier;
};

/** The context that `metadata` carries, if any: the parent of what continues the trace. */
export const contextFromMetadata = (
  api: OtelApi,
  metadata: Record<string, unknown> | undefined,
): Context | undefined => {
  if (!metadata || typeof metadata[TRACEPARENT] !== 'string') return undefined;
  const extracted = api.propagation.extract(api.ROOT_CONTEXT, metadata, getter);
  if (api.trace.getSpanContext(extracted)) return extracted;
  // No propagator registered (the API's default is a no-op): read the W3C header ourselves.
  const span = spanContextFromMetadata(api, metadata);
  return span ? api.trace.setSpanContext(api.ROOT_CONTEXT, span) : undefined;
};

/** The span context of a `traceparent` in `metadata` (for a link to an earlier run). */
export const spanContextFromMetadata = (
  api: OtelApi,
  metadata: Record<string, unknown> | undefined,
): SpanContext | undefined => {
  const header = metadata?.[TRACEPARENT];
  const match = typeof header === 'string' ? TRACEPARENT_FORMAT.exec(header) : null;
  if (!match) return undefined;
  const span: SpanContext = {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: parseInt(match[3]!, 16),
    isRemote: true,
  };
  return api.trace.isSpanContextValid(span) ? span : undefined;
};
