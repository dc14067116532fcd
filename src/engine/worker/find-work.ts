import { InvalidTransitionError, MissingDefinitionError } from '../../domain/errors.js';
import { storeTime, type EventStore } from '../../domain/event-store.js';
import type { OperationDefinition } from '../../domain/operation-definition.js';
import { hasEnded, type OperationState } from '../../domain/operation.js';
import { resourceStreamName } from '../../domain/stream-names.js';
import type { Clock } from '../clock.js';
import { loadOperation, type Decode } from '../operation-stream.js';
import { createOperationWriter, type OperationWriter } from '../operation-writer.js';
import { enqueueOnResource, releaseResource } from '../resource-queue-stream.js';
import { expireLease, isPastTtl, type LeaseRecord } from './lease.js';
import type { WorkIndex } from './work-index.js';
import type { WorkerLogEntry } from './worker-log.js';

export interface WorkFinderContext {
  store: EventStore;
  decode: Decode;
  clock: Clock;
  identity: string;
  /** The worker's lease now. */
  lease: () => string;
  definitions: ReadonlyMap<string, OperationDefinition>;
  index: WorkIndex;
  ttlMs: number;
  renewEveryMs: number;
  /** How many more operations the worker may take now (0 when it stopped claiming). */
  room: () => number;
  isRunning: (id: string) => boolean;
  /** Not resumed before this time: its own run failed for a reason other than losing it. */
  retryAfter: ReadonlyMap<string, number>;
  /** Runs an operation this worker now owns (`writer` carries its fence). */
  drive: (writer: OperationWriter, mode: 'fresh' | 'takeover') => void;
  log: (entry: WorkerLogEntry) => void;
  /** In [0, 1): the order in which it tries the oldest heads when other workers race it. */
  random?: () => number;
}

/** Workers whose lease is live, this one included. */
const liveLeases = (records: Iterable<LeaseRecord>): number => {
  let n = 0;
  for (const record of records) if (record.status === 'live') n++;
  return n;
};

/**
 * Shuffles the `room x liveWorkers` oldest heads in place, when more than one worker is live. Workers that
 * all try the oldest head first race for one claim and all but one lose it (a read and a
 * conflict each); in their own random order they mostly claim different ones. Request order
 * holds for the fleet a window at a time: the window is what all live workers together have
 * room for, so none of the heads after it is claimed before those in it are taken or tried.
 * Each resource's own queue still runs oldest first: only its head is ever a candidate.
 *
 * @example
 * ```ts
 * spreadOldest(heads, 16, 4, Math.random); // the 64 oldest heads, in a random order
 * ```
 */
export const spreadOldest = <T>(
  heads: T[],
  room: number,
  liveWorkers: number,
  random: () => number,
): void => {
  // One worker alone claims in request order: it races nobody.
  if (liveWorkers < 2) return;
  const n = Math.min(heads.length, room * liveWorkers);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [heads[i], heads[j]] = [heads[j]!, heads[i]!];
  }
};

/**
 * One pass of a worker looking for work, in this order: leases past their time to live are
 * expired (on the store's clock) and their operations taken over; its own operations that no
 * run holds (a continued rollback, a run the store failed) are resumed; places lost by a slow
 * client are taken again; then the head of each resource queue is claimed, oldest request
 * first. Returns true when it stopped early and should run again at once.
 */
export const createWorkFinder = (ctx: WorkFinderContext): (() => Promise<boolean>) => {
  const { store, decode, clock, identity, definitions, index } = ctx;
  const hasRoom = () => ctx.room() > 0;
  const random = ctx.random ?? Math.random;
  const now = () => clock.now().toISOString();
  const reportedMissing = new Set<string>();

  const fenced = (claim: OperationWriter) =>
    createOperationWriter(store, decode, claim.id, claim.snapshot(), claim.state().owner?.fence);

  const claim = async (id: string) => {
    // A stream the index has whole needs no read: a stale one makes the append fail, and the
    // writer reads it then.
    const loaded = index.claimable(id) ?? (await loadOperation(store, decode, id));
    const writer = createOperationWriter(store, decode, id, loaded);
    try {
      await writer.execute({
        type: 'ClaimOperation',
        data: { worker: identity, lease: ctx.lease(), at: now() },
      });
    } catch (error) {
      if (error instanceof InvalidTransitionError) return; // another worker claimed it first
      throw error;
    }
    ctx.log({ level: 'info', operationId: id, message: `claimed operation ${id}` });
    ctx.drive(fenced(writer), 'fresh');
  };

  const takeOver = async (state: OperationState, from: LeaseRecord) => {
    const loaded = await loadOperation(store, decode, state.id);
    if (loaded.state.owner?.lease !== from.info.lease || hasEnded(loaded.state)) return;
    const writer = createOperationWriter(store, decode, state.id, loaded);
    try {
      await writer.execute({
        type: 'TakeOverOperation',
        data: {
          from: from.info.lease,
          worker: identity,
          lease: ctx.lease(),
          reason: from.status === 'expired' ? 'lease_expired' : 'lease_released',
          leaseEndedAt: from.lastRecordedAt.toISOString(),
          at: now(),
        },
      });
    } catch (error) {
      if (error instanceof InvalidTransitionError) return; // another worker took it first
      throw error;
    }
    ctx.log({
      level: 'info',
      operationId: state.id,
      message: `took over operation ${state.id} from ${from.info.worker}`,
    });
    const s = writer.state();
    ctx.drive(fenced(writer), s.status === 'running' && !s.failure ? 'takeover' : 'fresh');
  };

  const resume = async (id: string) => {
    const loaded = await loadOperation(store, decode, id);
    if (loaded.state.owner?.lease !== ctx.lease() || hasEnded(loaded.state)) return;
    ctx.drive(createOperationWriter(store, decode, id, loaded, loaded.state.owner.fence), 'fresh');
  };

  /**
   * Places whose operation was never written (its client died between its two writes), and
   * ended holders never let go, are freed. A slow client may still be between the two: the
   * grace is long, and an operation that finds its place gone takes a new one.
   */
  const placeGraceMs = Math.max(4 * ctx.ttlMs, 30_000);
  const checked = new Map<string, number>();
  const freeStalePlace = async (queue: string, id: string, storeNow: Date, recordedAt: Date) => {
    if (storeNow.getTime() - recordedAt.getTime() < placeGraceMs) return;
    const key = `${queue}\n${id}`;
    if ((checked.get(key) ?? 0) > clock.now().getTime()) return;
    checked.set(key, clock.now().getTime() + ctx.ttlMs);
    const { state } = await loadOperation(store, decode, id);
    if (state.status === 'none' || hasEnded(state)) {
      await releaseResource(store, decode, queue, id, now());
    }
  };

  const reportMissing = (state: OperationState) => {
    if (reportedMissing.has(state.id)) return;
    reportedMissing.add(state.id);
    ctx.log({
      level: 'error',
      operationId: state.id,
      message: new MissingDefinitionError(state.id, state.type, [...definitions.keys()]).message,
    });
  };

  return async () => {
    const lease = ctx.lease();
    const storeNow = await storeTime(store, () => clock.now());
    const ended = new Map<string, LeaseRecord>();
    for (const record of [...index.leases.values()]) {
      if (record.info.lease !== lease && isPastTtl(record, storeNow)) {
        // Taken over in this same pass: waiting for the expiry to come back through the
        // subscription would add a round trip to every takeover.
        if (await expireLease(store, record, lease, now())) {
          ended.set(record.info.lease, {
            ...record,
            status: 'expired',
            revision: record.revision + 1n,
          });
        }
      }
    }
    const leaseOf = (id: string) => ended.get(id) ?? index.leases.get(id);
    const checkedAt = clock.now().getTime();

    for (const state of [...index.operations.values()]) {
      if (!hasRoom()) break;
      if (ctx.isRunning(state.id) || !state.owner) continue;
      if ((ctx.retryAfter.get(state.id) ?? 0) > checkedAt) continue;
      if (state.owner.lease === lease) {
        if (definitions.has(state.type)) await resume(state.id);
        continue;
      }
      const record = leaseOf(state.owner.lease);
      if (!record || record.status === 'live') continue;
      if (definitions.has(state.type)) await takeOver(state, record);
      else reportMissing(state);
    }

    for (const state of [...index.operations.values()]) {
      if (state.status !== 'queued' || state.owner) continue;
      const stream = resourceStreamName(state.environment, state.resource);
      if (!index.queues.get(stream)?.state.waiting.includes(state.id)) {
        await enqueueOnResource(store, decode, stream, state.id, now());
      }
    }

    const heads: { id: string; position: bigint }[] = [];
    for (const [stream, queue] of [...index.queues]) {
      const head = queue.state.holder ?? queue.state.waiting[0];
      if (head === undefined) continue;
      const op = index.operations.get(head);
      const entry = queue.entries.get(head);
      if (!op) {
        if (entry) await freeStalePlace(stream, head, storeNow, entry.recordedAt);
        continue;
      }
      if (!op.owner && op.status === 'queued' && definitions.has(op.type)) {
        heads.push({ id: head, position: entry?.position ?? 0n });
      }
    }
    heads.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
    spreadOldest(heads, ctx.room(), liveLeases(index.leases.values()), random);
    for (const { id } of heads) {
      if (!hasRoom()) break;
      // Many claims take a while under load: a lease that ends meanwhile is not kept waiting.
      if (clock.now().getTime() - checkedAt > ctx.renewEveryMs / 2) return true;
      if (!ctx.isRunning(id)) await claim(id);
    }
    return false;
  };
};
