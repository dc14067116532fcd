import { ConcurrencyError } from '../../domain/errors.js';
import { encodeEvent } from '../../domain/event-codec.js';
import type { EventStore } from '../../domain/event-store.js';
import type { EventOf, WorkerEvent } from '../../domain/events.js';
import { leaseStreamName, WORKERS_STREAM } from '../../domain/stream-names.js';
import type { Decode } from '../operation-stream.js';

export type LeaseInfo = EventOf<'WorkerLeaseAcquired'>['data'];

/**
 * A lease as its stream tells it. `lastRecordedAt` is the store's time of its last event, the
 * only time a lease's expiry is judged by (against the store's clock: `EventStore.currentTime`).
 */
export interface LeaseRecord {
  info: LeaseInfo;
  status: 'live' | 'released' | 'expired';
  /** The revision of its last event: a takeover appends the expiry exactly there. */
  revision: bigint;
  lastRecordedAt: Date;
  /** The operations it said it held at its last renewal or release. */
  holding: readonly string[];
}

const append = (
  store: EventStore,
  lease: string,
  event: WorkerEvent,
  expected: bigint | 'no_stream',
) => store.append(leaseStreamName(lease), [encodeEvent(event)], { expectedVersion: expected });

/**
 * Starts a lease: its stream, then its entry on the `workers` stream. Returns the revision to
 * renew at.
 */
export const acquireLease = async (store: EventStore, info: LeaseInfo): Promise<bigint> => {
  const { nextExpectedRevision } = await append(
    store,
    info.lease,
    { type: 'WorkerLeaseAcquired', data: info },
    'no_stream',
  );
  await store.append(
    WORKERS_STREAM,
    [
      encodeEvent({
        type: 'WorkerRegistered',
        data: { lease: info.lease, worker: info.worker, at: info.at },
      }),
    ],
    { expectedVersion: 'any' },
  );
  return nextExpectedRevision;
};

/**
 * Renews a lease at the revision its worker last wrote. Undefined when the append conflicted:
 * another worker wrote the lease's expiry there first, and this worker has lost it.
 */
export const renewLease = async (
  store: EventStore,
  lease: string,
  revision: bigint,
  event: WorkerEvent,
): Promise<bigint | undefined> => {
  try {
    return (await append(store, lease, event, revision)).nextExpectedRevision;
  } catch (error) {
    if (error instanceof ConcurrencyError) return undefined;
    throw error;
  }
};

/**
 * Ends the lease of another worker found past its time to live, at the revision read: false
 * when it renewed (or was ended by someone else) in between.
 */
export const expireLease = async (
  store: EventStore,
  record: LeaseRecord,
  by: string,
  at: string,
): Promise<boolean> => {
  const expired: WorkerEvent = {
    type: 'WorkerLeaseExpired',
    data: { by, lastRenewedAt: record.lastRecordedAt.toISOString(), at },
  };
  return (await renewLease(store, record.info.lease, record.revision, expired)) !== undefined;
};

/** Whether a live lease is past its time to live at `storeNow`, on the store's clock. */
export const isPastTtl = (record: LeaseRecord, storeNow: Date): boolean =>
  record.status === 'live' &&
  storeNow.getTime() - record.lastRecordedAt.getTime() > record.info.ttlMs;

/** The lease after one more of its events (pure: the worker's index folds leases with it). */
export const evolveLease = (
  record: LeaseRecord | undefined,
  event: WorkerEvent,
  revision: bigint,
  recordedAt: Date,
): LeaseRecord | undefined => {
  switch (event.type) {
    case 'WorkerLeaseAcquired':
      return {
        info: event.data,
        status: 'live',
        revision,
        lastRecordedAt: recordedAt,
        holding: [],
      };
    case 'WorkerLeaseRenewed':
      return (
        record && { ...record, revision, lastRecordedAt: recordedAt, holding: event.data.holding }
      );
    case 'WorkerLeaseReleased':
      return (
        record && {
          ...record,
          status: 'released',
          revision,
          lastRecordedAt: recordedAt,
          holding: event.data.holding,
        }
      );
    case 'WorkerLeaseExpired':
      return record && { ...record, status: 'expired', revision, lastRecordedAt: recordedAt };
    case 'WorkerRegistered':
      return record;
  }
};

/**
 * One lease read from its stream: its first event and its last two, not the renewals between
 * (a lease renewed every few seconds for a month has hundreds of thousands of them).
 */
export const readLease = async (
  store: EventStore,
  decode: Decode,
  lease: string,
): Promise<LeaseRecord | undefined> => {
  const stream = leaseStreamName(lease);
  const first = await store.readStream(stream, { maxCount: 1 });
  const last = await store.readStream(stream, { direction: 'backwards', maxCount: 2 });
  let record: LeaseRecord | undefined;
  for (const r of [...first, ...last.reverse().filter((e) => e.streamRevision > 0n)]) {
    record = evolveLease(record, decode(r) as WorkerEvent, r.streamRevision, r.recordedAt);
  }
  return record;
};
