import { createEventDecoder, type Upcaster } from '../../domain/event-codec.js';
import { storeTime, type EventStore } from '../../domain/event-store.js';
import type { EventOf } from '../../domain/events.js';
import { WORKERS_STREAM } from '../../domain/stream-names.js';
import { isPastTtl, readLease } from './lease.js';

/** One worker lease as `opledger workers` shows it. */
export interface WorkerView {
  worker: string;
  lease: string;
  host: string;
  pid: number;
  /**
   * 'live': renewed within its time to live; 'lost': past it (expired by another worker, or
   * not yet noticed); 'stopped': released by a shutdown.
   */
  status: 'live' | 'lost' | 'stopped';
  startedAt: string;
  /** The store's time of its last renewal (or of its end). */
  lastRenewalAt: string;
  ttlMs: number;
  concurrency: number;
  operationTypes: string[];
  /** The operations it held at its last renewal. */
  holding: string[];
}

/**
 * Every worker lease registered on the store, newest first, with its status judged on the
 * store's clock. `limit` bounds how many are read (default 100).
 *
 * @example
 * ```ts
 * for (const w of await listWorkers(store)) console.log(w.worker, w.status, w.holding.length);
 * ```
 */
export const listWorkers = async (
  store: EventStore,
  { limit = 100, upcasters }: { limit?: number; upcasters?: readonly Upcaster[] } = {},
): Promise<WorkerView[]> => {
  const decode = createEventDecoder(upcasters);
  const registered = await store.readStream(WORKERS_STREAM, {
    direction: 'backwards',
    maxCount: limit,
  });
  const storeNow = await storeTime(store, () => new Date());
  const views: WorkerView[] = [];
  for (const r of registered) {
    const { lease } = (decode(r) as EventOf<'WorkerRegistered'>).data;
    const record = await readLease(store, decode, lease);
    if (!record) continue;
    views.push({
      worker: record.info.worker,
      lease,
      host: record.info.host,
      pid: record.info.pid,
      status:
        record.status === 'released'
          ? 'stopped'
          : record.status === 'expired' || isPastTtl(record, storeNow)
            ? 'lost'
            : 'live',
      startedAt: record.info.at,
      lastRenewalAt: record.lastRecordedAt.toISOString(),
      ttlMs: record.info.ttlMs,
      concurrency: record.info.concurrency,
      operationTypes: record.info.operations,
      holding: [...record.holding],
    });
  }
  return views;
};
