import type { AppendOptions } from '../workloads/appends.js';
import type { EngineOptions } from '../workloads/engine.js';
import type { LiveDeliveryOptions } from '../workloads/live-delivery.js';
import type { LongHistoryOptions } from '../workloads/long-history.js';
import type { ProjectionOptions } from '../workloads/projections.js';

/** Precedes the one JSON line a workload child prints: its RunReport. */
export const RESULT_MARKER = '@@opledger-bench-result ';

export type ChildTask =
  | { workload: 'appends'; options: AppendOptions }
  | { workload: 'engine'; options: EngineOptions }
  | { workload: 'projections'; options: ProjectionOptions }
  | { workload: 'live-delivery'; options: LiveDeliveryOptions }
  | { workload: 'long-history'; options: LongHistoryOptions };
