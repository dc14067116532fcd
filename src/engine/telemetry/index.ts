export { createTelemetry } from './telemetry.js';
export type {
  TelemetryOptions,
  TelemetrySetting,
  TraceCarrier,
  TraceContextInput,
} from './telemetry-options.js';
export { withTelemetry } from './with-telemetry.js';
