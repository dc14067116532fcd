import type { CloudFaultCode } from '../../catalog/cloud-errors.js';
import type { CloudService } from '../../catalog/infrastructure-port.js';

export interface OutageWindow {
  service: CloudService;
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
}

/** Outages and error rates per service: which calls fail, decided when each call starts. */
export interface FaultPlan {
  outages: OutageWindow[];
  errorRates: Partial<Record<CloudService, number>>;
}

export const emptyFaultPlan = (): FaultPlan => ({ outages: [], errorRates: {} });

export const toEpochMs = (time: Date | number | string): number =>
  typeof time === 'number' ? time : new Date(time).getTime();

/**
 * The fault, if any, that a call to `service` starting at `at` meets. The random source is drawn
 * only when an error rate applies, so adding an outage does not shift the other random faults.
 */
export const faultFor = (
  plan: FaultPlan,
  service: CloudService,
  at: number,
  random: () => number,
): Exclude<CloudFaultCode, 'INSTANCE_CRASHED'> | null => {
  if (plan.outages.some((o) => o.service === service && o.from <= at && at < o.to)) {
    return 'OUTAGE';
  }
  const rate = plan.errorRates[service] ?? 0;
  if (rate > 0 && random() < rate) return 'ERROR_RATE';
  return null;
};
