import type { OperationState } from '../domain/operation.js';
import type { EnvironmentRecord, ResourceRecord } from './read-store.js';

/** What an OperationSucceeded says it did to its resource (its `effects`). */
export interface SucceededEffects {
  lifecycle?: 'provision' | 'deprovision';
  release?: string;
}

/**
 * The environment record a request leaves, or undefined when the one there stays as it is.
 * Pure, so that the batch's path and the general path (project-operation-event.ts) cannot
 * drift apart: they only differ in how they read and write the records.
 *
 * @example
 * requestedEnvironment(undefined, 'prod', '2026-01-01T00:00:00.000Z');
 * // { environment: 'prod', status: 'active', firstOperationAt: '2026-01-01T00:00:00.000Z' }
 */
export const requestedEnvironment = (
  env: EnvironmentRecord | undefined,
  environment: string,
  createdAt: string,
): EnvironmentRecord | undefined => {
  if (env && env.status !== 'deprovisioned') return undefined;
  // A new lifetime: a deprovisioned environment's name can be used again.
  return {
    environment,
    status: 'active',
    firstOperationAt: createdAt,
    ...(env?.purgedThrough !== undefined ? { purgedThrough: env.purgedThrough } : {}),
  };
};

/**
 * The resource record a request leaves (`state` is the operation's state with the request
 * folded in; `current`, the record before it).
 *
 * @example
 * requestedResource(undefined, state, 'op-1'); // status 'provisioning' for a provision
 */
export const requestedResource = (
  current: ResourceRecord | undefined,
  state: Readonly<OperationState>,
  id: string,
): ResourceRecord => {
  const { environment, resource } = state;
  // A resource comes into being with its provision; one opledger never provisioned (made
  // before it was used) is taken as there.
  const provisioning =
    state.lifecycle === 'provision' && (!current || current.status === 'deprovisioned');
  return {
    ...(current ?? { environment, type: resource.type, handle: resource.handle }),
    status: provisioning ? 'provisioning' : (current?.status ?? 'provisioned'),
    lastOperationId: id,
    lastOperationType: state.type,
    lastOperationAt: state.createdAt,
  };
};

/**
 * The resource record a failed provision leaves, or undefined when it changes nothing: a
 * failed first provision leaves no resource behind (its rollback removes what it made).
 *
 * @example
 * failedProvisionResource({ ...record, status: 'provisioning' }); // status 'deprovisioned'
 */
export const failedProvisionResource = (
  current: ResourceRecord | undefined,
): ResourceRecord | undefined =>
  current?.status === 'provisioning' ? { ...current, status: 'deprovisioned' } : undefined;

/**
 * The resource record a success with effects leaves on a resource that is not an environment,
 * or undefined when there is no record to change.
 *
 * @example
 * succeededResource(record, { release: 'v2' }); // { ...record, release: 'v2' }
 */
export const succeededResource = (
  current: ResourceRecord | undefined,
  effects: SucceededEffects,
): ResourceRecord | undefined => {
  if (!current) return undefined;
  const { lifecycle, release } = effects;
  return {
    ...current,
    ...(lifecycle ? { status: lifecycle === 'deprovision' ? 'deprovisioned' : 'provisioned' } : {}),
    ...(release ? { release } : {}),
  };
};
