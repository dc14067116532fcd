import type { RecordedEvent } from '../domain/event-store.js';
import type { OperationEvent } from '../domain/events.js';
import { toLogLine } from '../domain/log-lines.js';
import { createOperationFold, type OperationState } from '../domain/operation.js';
import { ENVIRONMENT_RESOURCE, operationIdOfStream } from '../domain/stream-names.js';
import { decodeOperationEvent, type Decode } from '../engine/operation-stream.js';
import {
  failedProvisionResource,
  requestedEnvironment,
  requestedResource,
  succeededResource,
} from './operation-resource-records.js';
import { MISS, operationRecord, type ReadModelBatch } from './read-model-batch.js';
import type { ReadModelTransaction, ResourceRecord } from './read-store.js';

/**
 * Applies one stored event to the read model: the operation's folded state and summary, its
 * log line, its resource and its environment. Idempotent: an event at or below the revision
 * already applied to its operation changes nothing.
 */
export const projectOperationEvent = async (
  tx: ReadModelTransaction,
  recorded: RecordedEvent,
  decode: Decode,
): Promise<void> => {
  const id = operationIdOfStream(recorded.streamName);
  if (id === undefined) return;
  return projectDecoded(tx, recorded, decodeOperationEvent(decode, recorded), id);
};

/**
 * projectOperationEvent inside a batch (read-model-batch.ts). An event changes its operation's
 * record, adds a log line and, for a request and some endings, changes its resource and its
 * environment: when the batch holds those records, or its store answers at once (`tx.now`:
 * memory, SQLite), the event is applied here without a promise, which was a large share of a
 * rebuild. The others (a record a store without `now` must be asked for, an environment's
 * deprovision and its purge) take the general path, projectDecoded, to the same read models
 * (test/property/projection-paths.property.test.ts).
 */
export const projectOperationEventInBatch = (
  batch: ReadModelBatch,
  recorded: RecordedEvent,
  decode: Decode,
): Promise<void> | undefined => {
  const id = batch.operationIdOf(recorded.streamName);
  if (id === undefined) return undefined;
  const event = decodeOperationEvent(decode, recorded);
  if (event.type === 'OperationRequested') {
    if (requestInBatch(batch, recorded, event, id)) return undefined;
    return projectDecoded(batch.tx, recorded, event, id, batch);
  }
  const existing = batch.operationInBatch(id);
  if (existing === MISS) return projectDecoded(batch.tx, recorded, event, id, batch);
  const revision = Number(recorded.streamRevision);
  // As in projectDecoded: no record (purged or never requested), or an event already applied.
  if (!existing || revision <= existing.lastRevision) return undefined;
  // The resource an ending changes, as projectDecoded changes it; decided before anything is
  // written, so that an event the general path must take is applied by it alone.
  let changed: ResourceRecord | undefined;
  const { environment, resource, lifecycle } = existing.fold.current;
  if (event.type === 'OperationFailed' && lifecycle === 'provision') {
    const current = batch.cachedResource(environment, resource.type, resource.handle);
    if (current === MISS) return projectDecoded(batch.tx, recorded, event, id);
    changed = failedProvisionResource(current);
  } else if (event.type === 'OperationSucceeded' && event.data.effects) {
    if (resource.type === ENVIRONMENT_RESOURCE) {
      if (event.data.effects.lifecycle === 'deprovision')
        return projectDecoded(batch.tx, recorded, event, id);
    } else {
      const current = batch.cachedResource(environment, resource.type, resource.handle);
      if (current === MISS) return projectDecoded(batch.tx, recorded, event, id);
      changed = succeededResource(current, event.data.effects);
    }
  }
  batch.apply(id, existing, event, revision);
  const line = toLogLine(id, revision, event);
  if (line) batch.addLogLine(line);
  if (changed) batch.setResource(changed);
  return undefined;
};

type Requested = Extract<OperationEvent, { type: 'OperationRequested' }>;

/**
 * projectDecoded's request, without a promise: false, with nothing changed, when a record it
 * reads is not in the batch and cannot be read at once.
 */
const requestInBatch = (
  batch: ReadModelBatch,
  recorded: RecordedEvent,
  event: Requested,
  id: string,
): boolean => {
  const revision = Number(recorded.streamRevision);
  // Every record it reads, read before anything is written: the fold gives the request's
  // environment and resource to the state, so they are the event's.
  const existing = batch.operationInBatch(id);
  if (existing === MISS) return false;
  const { environment, resource } = event.data;
  const env = batch.cachedEnvironment(environment);
  if (env === MISS) return false;
  const current =
    resource.type === ENVIRONMENT_RESOURCE
      ? undefined
      : batch.cachedResource(environment, resource.type, resource.handle);
  if (current === MISS) return false;

  if (existing && revision <= existing.lastRevision) return true;
  // An operation whose environment was deprovisioned (and purged) stays purged.
  if (
    !existing &&
    env?.purgedThrough !== undefined &&
    recorded.globalPosition <= BigInt(env.purgedThrough)
  )
    return true;
  let state: Readonly<OperationState>;
  if (existing) {
    batch.apply(id, existing, event, revision);
    state = existing.fold.current;
  } else {
    const fold = createOperationFold();
    fold.apply(event);
    batch.putFold(id, revision, fold);
    state = fold.current;
  }
  const line = toLogLine(id, revision, event);
  if (line) batch.addLogLine(line);
  const renewed = requestedEnvironment(env, environment, state.createdAt);
  if (renewed) batch.setEnvironment(renewed);
  if (resource.type !== ENVIRONMENT_RESOURCE)
    batch.setResource(requestedResource(current, state, id));
  return true;
};

/** With `batch`, the operation's fold stays in the batch for its next events (putFold). */
const projectDecoded = async (
  tx: ReadModelTransaction,
  recorded: RecordedEvent,
  event: OperationEvent,
  id: string,
  batch?: ReadModelBatch,
): Promise<void> => {
  const revision = Number(recorded.streamRevision);
  const existing = await tx.getOperation(id);
  if (existing && revision <= existing.lastRevision) return;
  // An operation whose environment was deprovisioned (and purged) stays purged.
  if (!existing && event.type !== 'OperationRequested') return;
  if (!existing && event.type === 'OperationRequested') {
    const env = await tx.getEnvironment(event.data.environment);
    if (env?.purgedThrough !== undefined && recorded.globalPosition <= BigInt(env.purgedThrough))
      return;
  }

  const fold = createOperationFold(existing?.state);
  fold.apply(event);
  if (batch) batch.putFold(id, revision, fold);
  else await tx.putOperation(operationRecord(id, revision, fold.state()));
  // Read before any other event is folded in (the batch applies one event at a time).
  const state = fold.current;
  const line = toLogLine(id, revision, event);
  if (line) await tx.putLogLine(line);

  const { environment, resource } = state;
  if (event.type === 'OperationRequested') {
    const renewed = requestedEnvironment(
      await tx.getEnvironment(environment),
      environment,
      state.createdAt,
    );
    if (renewed) await tx.putEnvironment(renewed);
    if (resource.type !== ENVIRONMENT_RESOURCE) {
      const current = await tx.getResource(environment, resource.type, resource.handle);
      await tx.putResource(requestedResource(current, state, id));
    }
    return;
  }

  if (event.type === 'OperationFailed' && state.lifecycle === 'provision') {
    const changed = failedProvisionResource(
      await tx.getResource(environment, resource.type, resource.handle),
    );
    if (changed) await tx.putResource(changed);
    return;
  }

  if (event.type === 'OperationSucceeded' && event.data.effects) {
    if (resource.type === ENVIRONMENT_RESOURCE) {
      if (event.data.effects.lifecycle === 'deprovision') {
        const env = await tx.getEnvironment(environment);
        await tx.purgeEnvironment(environment);
        await tx.putEnvironment({
          environment,
          status: 'deprovisioned',
          firstOperationAt: env?.firstOperationAt ?? state.createdAt,
          deprovisionedAt: event.data.at,
          purgedThrough: recorded.globalPosition.toString(),
        });
      }
      return;
    }
    const changed = succeededResource(
      await tx.getResource(environment, resource.type, resource.handle),
      event.data.effects,
    );
    if (changed) await tx.putResource(changed);
  }
};
