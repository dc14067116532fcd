import { OpledgerError } from '../domain/errors.js';
import type { CloudCall, CloudService } from './infrastructure-port.js';

export type CloudFaultCode = 'OUTAGE' | 'ERROR_RATE' | 'INSTANCE_CRASHED';

/**
 * A third-party failure (the service or the instance, not the request): steps retry the
 * retryable ones and fail over or roll back on the others.
 */
export class CloudServiceError extends OpledgerError {
  declare readonly code: CloudFaultCode;
  readonly retryable: boolean;
  constructor(
    readonly service: CloudService,
    readonly call: CloudCall,
    code: CloudFaultCode,
    readonly instanceId?: string,
  ) {
    const what =
      code === 'OUTAGE'
        ? `${service} is unavailable (outage); retry later or fail over`
        : code === 'ERROR_RATE'
          ? `${service} returned a transient error; retry the call`
          : `instance ${instanceId ?? '?'} has crashed; ensure the instance again or use another one`;
    super(code, `${call} failed: ${what}.`);
    // A crashed instance does not come back by itself: retrying the same call cannot help.
    this.retryable = code !== 'INSTANCE_CRASHED';
  }
}

/** Every refusal code: a request refused with one of them fails the same way when retried. */
export const CLOUD_REQUEST_CODES = [
  'NOT_FOUND',
  'IMAGE_NOT_PULLED',
  'VOLUME_IN_USE',
  'VOLUME_NOT_ATTACHED',
  'VOLUME_NOT_MOUNTED',
  'VOLUME_MOUNTED',
  'VOLUME_BUSY',
  'CONTAINER_RUNNING',
  'CONFLICT',
  'INVALID_REQUEST',
] as const;

export type CloudRequestCode = (typeof CLOUD_REQUEST_CODES)[number];

/** The request itself is wrong for the current state: retrying it unchanged cannot succeed. */
export class CloudRequestError extends OpledgerError {
  declare readonly code: CloudRequestCode;
  readonly retryable = false;
  constructor(
    readonly call: CloudCall,
    code: CloudRequestCode,
    problem: string,
  ) {
    super(code, `${call} was refused: ${problem}.`);
  }
}
