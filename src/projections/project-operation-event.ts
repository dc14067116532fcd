import type { RecordedEvent } from '../domain/event-store.js';
import type { OperationEvent } from '../domain/events.js';
import { toLogLine } from '../domain/log-lines.js';
import { createOperationFold } from '../domain/operation.js';
import { ENVIRONMENT_RESOURCE, operationIdOfStream } from '../domain/stream-names.js';
import { decodeOperationEvent, type Decode } from '../engine/operation-stream.js';
import { MISS, operationRecord, type ReadModelBatch } from './read-model-batch.js';
import type { ReadModelTransaction } from './read-store.js';

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
 * projectOperationEvent inside a batch (read-model-batch.ts). Every event but a request changes
 * its operation's record, adds a log line and, for some endings, changes its resource: when
 * the batch already holds those records, the event is applied here without a promise, which
 * was a large share of a rebuild on memory. The others (a request, a record the batch has not
 * read yet, an environment's deprovision and its purge) take the general path, projectDecoded.
 */
export const projectOperationEventInBatch = (
  batch: ReadModelBatch,
  recorded: RecordedEvent,
  decode: Decode,
): Promise<void> | undefined => {
  const id = operationIdOfStream(recorded.streamName);
  if (id === undefined) return undefined;
  const event = decodeOperationEvent(decode, recorded);
  const existing = event.type === 'OperationRequested' ? MISS : batch.operationInBatch(id);
  if (existing === MISS) return projectDecoded(batch.tx, recorded, event, id, batch);
  const revision = Number(recorded.streamRevision);
  // As in projectDecoded: no record (purged or never requested), or an event already applied.
  if (!existing || revision <= existing.lastRevision) return undefined;
  // The resource an ending changes, as projectDecoded changes it; decided before anything is
  // written, so that an event the general path must take is applied by it alone.
  let resourceChange: (() => void) | undefined;
  const { environment, resource, lifecycle } = existing.current;
  if (event.type === 'OperationFailed' && lifecycle === 'provision') {
    const current = batch.cachedResource(environment, resource.type, resource.handle);
    if (current === MISS) return projectDecoded(batch.tx, recorded, event, id);
    if (current?.status === 'provisioning')
      resourceChange = () => batch.setResource({ ...current, status: 'deprovisioned' });
  } else if (event.type === 'OperationSucceeded' && event.data.effects) {
    const { lifecycle: done, release } = event.data.effects;
    if (resource.type === ENVIRONMENT_RESOURCE) {
      if (done === 'deprovision') return projectDecoded(batch.tx, recorded, event, id);
    } else {
      const current = batch.cachedResource(environment, resource.type, resource.handle);
      if (current === MISS) return projectDecoded(batch.tx, recorded, event, id);
      if (current)
        resourceChange = () =>
          batch.setResource({
            ...current,
            ...(done ? { status: done === 'deprovision' ? 'deprovisioned' : 'provisioned' } : {}),
            ...(release ? { release } : {}),
          });
    }
  }
  existing.apply(event, revision);
  const line = toLogLine(id, revision, event);
  if (line) batch.addLogLine(line);
  resourceChange?.();
  return undefined;
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
    const env = await tx.getEnvironment(environment);
    if (!env || env.status === 'deprovisioned') {
      // A new lifetime: a deprovisioned environment's name can be used again.
      await tx.putEnvironment({
        environment,
        status: 'active',
        firstOperationAt: state.createdAt,
        ...(env?.purgedThrough !== undefined ? { purgedThrough: env.purgedThrough } : {}),
      });
    }
    if (resource.type !== ENVIRONMENT_RESOURCE) {
      const current = await tx.getResource(environment, resource.type, resource.handle);
      // A resource comes into being with its provision; one opledger never provisioned (made
      // before it was used) is taken as there.
      const provisioning =
        state.lifecycle === 'provision' && (!current || current.status === 'deprovisioned');
      await tx.putResource({
        ...(current ?? { environment, type: resource.type, handle: resource.handle }),
        status: provisioning ? 'provisioning' : (current?.status ?? 'provisioned'),
        lastOperationId: id,
        lastOperationType: state.type,
        lastOperationAt: state.createdAt,
      });
    }
    return;
  }

  if (event.type === 'OperationFailed' && state.lifecycle === 'provision') {
    const current = await tx.getResource(environment, resource.type, resource.handle);
    // A failed first provision leaves no resource behind (its rollback removes what it made).
    if (current?.status === 'provisioning')
      await tx.putResource({ ...current, status: 'deprovisioned' });
    return;
  }

  if (event.type === 'OperationSucceeded' && event.data.effects) {
    const { lifecycle, release } = event.data.effects;
    if (resource.type === ENVIRONMENT_RESOURCE) {
      if (lifecycle === 'deprovision') {
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
    const current = await tx.getResource(environment, resource.type, resource.handle);
    if (!current) return;
    await tx.putResource({
      ...current,
      ...(lifecycle
        ? { status: lifecycle === 'deprovision' ? 'deprovisioned' : 'provisioned' }
        : {}),
      ...(release ? { release } : {}),
    });
  }
};
