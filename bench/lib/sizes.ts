import type { AppendSizes } from '../workloads/appends.js';
import type { EngineSizes } from '../workloads/engine.js';
import type { LiveDeliverySizes } from '../workloads/live-delivery.js';
import type { LongHistorySizes } from '../workloads/long-history.js';
import type { ProjectionSizes } from '../workloads/projections.js';

export interface Plan {
  runs: number;
  appends: { sizes: AppendSizes; warmup: AppendSizes };
  engine: { sizes: EngineSizes; warmup: EngineSizes };
  projections: { sizes: ProjectionSizes };
  liveDelivery: { sizes: LiveDeliverySizes; warmup: LiveDeliverySizes };
  longHistory: { sizes: LongHistorySizes };
}

/** The sizes the issue names. */
export const FULL: Plan = {
  runs: 5,
  appends: {
    sizes: { events: 100_000, streams: 10_000, writers: 16, batch: 10, pageSize: 1_000 },
    warmup: { events: 5_000, streams: 500, writers: 16, batch: 10, pageSize: 1_000 },
  },
  engine: {
    sizes: { operations: 10_000, inFlight: 16 },
    warmup: { operations: 500, inFlight: 16 },
  },
  projections: { sizes: { events: 1_000_000 } },
  liveDelivery: {
    sizes: { writers: 8, perWriter: 1_000, intervalMs: 5 },
    warmup: { writers: 8, perWriter: 50, intervalMs: 5 },
  },
  // Issue 22; `--history 10,10000,100000` for fewer on a busy machine.
  longHistory: { sizes: { pastOperations: [10, 10_000, 100_000, 1_000_000] } },
};

/** For CI: every workload and contestant at a small size, to keep the harness working. */
export const QUICK: Plan = {
  runs: 1,
  appends: {
    sizes: { events: 1_000, streams: 100, writers: 16, batch: 10, pageSize: 250 },
    warmup: { events: 100, streams: 10, writers: 16, batch: 10, pageSize: 250 },
  },
  engine: { sizes: { operations: 100, inFlight: 16 }, warmup: { operations: 20, inFlight: 16 } },
  projections: { sizes: { events: 10_000 } },
  liveDelivery: {
    sizes: { writers: 8, perWriter: 10, intervalMs: 5 },
    warmup: { writers: 8, perWriter: 2, intervalMs: 5 },
  },
  longHistory: { sizes: { pastOperations: [10, 1_000] } },
};
