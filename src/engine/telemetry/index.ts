export { createTelemetry, type TelemetryOptions, type TelemetrySetting } from './telemetry.js';
export type { TraceCarrier, TraceContextInput } from './trace-context.js';
export { withTelemetry } from './with-telemetry.js';
export {
  ATTR,
  METRIC,
  SPAN,
  SPAN_EVENT,
  FAILOVER_EVENT,
  LOG_EVENT,
  INSTRUMENTATION_SCOPE,
} from './names.js';
