/**
 * `opledger/engine`: the building blocks the engine is made of, for those who put it together
 * differently: the system clock and the time-ordered ids it uses by default, and the decorator
 * that makes a store's calls ride out outages (the engine, clients and workers apply it
 * themselves), and the types of the `telemetry` option (docs/telemetry.md). A service that only
 * runs operations needs `opledger`.
 */
export { systemClock, type Clock } from './clock.js';
export { createTimeOrderedIds } from './ids.js';
export {
  AppendOutcomeUnknownError,
  withStoreOutageRetry,
  type StoreCall,
  type StoreOutageNotice,
  type StoreOutageOptions,
} from './store-outage.js';
export type {
  TelemetryOptions,
  TelemetrySetting,
  TraceCarrier,
  TraceContextInput,
} from './telemetry/telemetry-options.js';
