// The port and its errors belong to the catalog, their consumer; the simulated cloud implements
// them, and this entry point keeps exporting them for its importers.
export * from '../../catalog/infrastructure-port.js';
export { createSimulatedCloud } from './simulated-cloud.js';
export type {
  CrashOnCallOptions,
  Downtime,
  SimulatedCloud,
  SimulatedCloudFaults,
  SimulatedCloudOptions,
  VirtualTime,
} from './simulated-cloud.js';
export {
  CLOUD_REQUEST_CODES,
  CloudRequestError,
  CloudServiceError,
} from '../../catalog/cloud-errors.js';
export type { CloudFaultCode, CloudRequestCode } from '../../catalog/cloud-errors.js';
export type { CloudSnapshot, CloudState, ImageBehaviour } from './cloud-state.js';
export { DEFAULT_CALL_DURATIONS, type CallDurations } from './call-durations.js';
export type { TimelineEntry, TimelineKind } from './timeline.js';
