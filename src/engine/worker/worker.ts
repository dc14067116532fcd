import { hostname } from 'node:os';
import {
  InvalidRequestError,
  InvalidTransitionError,
  LeaseLostError,
  MissingDefinitionError,
  OperationLostError,
} from '../../domain/errors.js';
import { createEventDecoder, type Upcaster } from '../../domain/event-codec.js';
import { storeTime, type EventStore } from '../../domain/event-store.js';
import { hasEnded, type OperationState } from '../../domain/operation.js';
import { resourceStreamName } from '../../domain/stream-names.js';
import { systemClock, type Clock } from '../clock.js';
import { definitionsByType } from '../client.js';
import type { AnyOperationDefinition } from '../engine-api.js';
import { createTimeOrderedIds } from '../ids.js';
import { createOperationWriter, loadOperation, type OperationWriter } from '../operation-stream.js';
import { enqueueOnResource, releaseResource } from '../resource-queue-stream.js';
import { driveOperation } from '../run-operation.js';
import { acquireLease, expireLease, isPastTtl, renewLease, type LeaseRecord } from './lease.js';
import { createWorkIndex } from './work-index.js';

export interface WorkerLogEntry {
  level: 'info' | 'warn' | 'error';
  message: string;
  operationId?: string;
}

export interface WorkerOptions<D extends AnyOperationDefinition = AnyOperationDefinition> {
  store: EventStore;
  /** The definitions this worker runs: it claims and takes over operations of these types only. */
  operations: readonly D[];
  /** Operations run at once by this worker (claims, takeovers and resumed rollbacks). Default 8. */
  concurrency?: number;
  /** How this worker is named in logs and `opledger workers`. Default `<host>:<pid>`. */
  identity?: string;
  /**
   * Its lease: renewed every `renewEveryMs` (default 5 s); another worker may take over its
   * operations once the store has seen no renewal for `ttlMs` (default 15 s).
   */
  lease?: { ttlMs?: number; renewEveryMs?: number };
  clock?: Clock;
  upcasters?: readonly Upcaster[];
  /** Where the worker tells what only it knows (a lost operation, a takeover it could not do). */
  log?: (entry: WorkerLogEntry) => void;
}

export interface Worker {
  readonly identity: string;
  /** The lease it holds now (a new one after it lost one). */
  lease(): string;
  /** The operations it runs now. */
  running(): string[];
  /**
   * Stops claiming, lets running operations finish within `graceMs` (default 30 s), cancels
   * what is left (it rolls back), waits for those rollbacks and releases its lease.
   */
  shutdown(options?: { graceMs?: number }): Promise<void>;
  /** Settles once the worker has stopped: after `shutdown`, or with the error that stopped it. */
  readonly stopped: Promise<void>;
}

const defaultLog = (entry: WorkerLogEntry) => {
  if (entry.level === 'error') console.error(`opledger worker: ${entry.message}`);
  else if (entry.level === 'warn') console.warn(`opledger worker: ${entry.message}`);
};

const positive = (name: string, value: number) => {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidRequestError(`${name} must be a whole number of 1 or more (got ${value})`);
  }
  return value;
};

interface Run {
  writer: OperationWriter;
  done: Promise<void>;
}

/**
 * A worker: claims queued operations (the head of each resource's queue, in request order),
 * runs them, renews its lease, and takes over the operations of any worker whose lease ended:
 * rolls back one that was running (`worker_lost`), resumes an interrupted rollback, starts one
 * that was only claimed. No `recover()` is needed after a crash. See docs/workers.md.
 *
 * @example
 * ```ts
 * const worker = await createWorker({ store, operations: [deploy], concurrency: 16 });
 * process.on('SIGTERM', () => void worker.shutdown({ graceMs: 30_000 }));
 * ```
 */
export const createWorker = async <D extends AnyOperationDefinition>(
  options: WorkerOptions<D>,
): Promise<Worker> => {
  const { store } = options;
  const clock = options.clock ?? systemClock;
  const decode = createEventDecoder(options.upcasters);
  const definitions = definitionsByType(options.operations);
  const concurrency = positive('concurrency', options.concurrency ?? 8);
  const ttlMs = positive('lease.ttlMs', options.lease?.ttlMs ?? 15_000);
  const renewEveryMs = positive('lease.renewEveryMs', options.lease?.renewEveryMs ?? 5_000);
  if (renewEveryMs >= ttlMs) {
    throw new InvalidRequestError(
      `lease.renewEveryMs (${renewEveryMs}) must be shorter than lease.ttlMs (${ttlMs}), or the lease would expire between renewals`,
    );
  }
  const identity = options.identity ?? `${hostname()}:${process.pid}`;
  if (!identity) throw new InvalidRequestError('a worker identity must not be empty');
  const log = options.log ?? defaultLog;
  const leaseIds = createTimeOrderedIds(clock);
  const now = () => clock.now().toISOString();

  const running = new Map<string, Run>();
  /** Operations whose own run failed for another reason: not resumed before this time. */
  const retryAfter = new Map<string, number>();
  const reportedMissing = new Set<string>();
  let claiming = true;
  let stopping = false;
  let fatal: ((error: unknown) => void) | undefined;
  let stoppedResolve!: () => void;
  const stopped = new Promise<void>((resolve, reject) => {
    fatal = reject;
    stoppedResolve = resolve;
  });
  stopped.catch(() => undefined);

  // --- The lease ---------------------------------------------------------------------------
  let lease = '';
  let leaseRevision = -1n;
  let leaseLost = new AbortController();
  /** Local time the last successful renewal began: the lease is ours for ttlMs after it. */
  let renewedAt = 0;
  const stopTimers = new AbortController();

  const takeLease = async () => {
    lease = `${identity}.${leaseIds()}`;
    leaseLost = new AbortController();
    renewedAt = clock.now().getTime();
    leaseRevision = await acquireLease(store, {
      lease,
      worker: identity,
      host: hostname(),
      pid: process.pid,
      ttlMs,
      renewEveryMs,
      concurrency,
      operations: [...definitions.keys()],
      at: now(),
    });
  };

  /** Aborts every run under the lost lease before anything else, then takes a new lease. */
  const loseLease = async (reason: string) => {
    if (leaseLost.signal.aborted) return;
    const old = lease;
    leaseLost.abort(new LeaseLostError(old, reason));
    log({
      level: 'warn',
      message: `lease ${old} lost (${reason}): its operations were aborted and are left to the worker that takes them over`,
    });
    if (!stopping) await takeLease();
  };

  const renew = async () => {
    const startedAt = clock.now().getTime();
    if (startedAt - renewedAt > ttlMs) {
      return loseLease(
        `not renewed for ${startedAt - renewedAt} ms, past its ${ttlMs} ms time to live (the process was paused or cut off from the store)`,
      );
    }
    const next = await renewLease(store, lease, leaseRevision, {
      type: 'WorkerLeaseRenewed',
      data: { holding: [...running.keys()], at: now() },
    });
    if (next === undefined) return loseLease('another worker found it expired and took it over');
    leaseRevision = next;
    renewedAt = startedAt;
  };

  const renewLoop = async () => {
    while (!stopTimers.signal.aborted) {
      try {
        await clock.sleep(renewEveryMs, stopTimers.signal);
      } catch {
        return;
      }
      try {
        await renew();
      } catch (error) {
        log({ level: 'warn', message: `could not renew lease ${lease}: ${String(error)}` });
      }
      schedule();
    }
  };

  // A watchdog beside the renewals: the lease is judged lost the moment its time is up, not
  // at the next renewal, so a worker that wakes from a pause aborts its steps first.
  const watchdog = async () => {
    while (!stopTimers.signal.aborted) {
      const left = renewedAt + ttlMs - clock.now().getTime();
      if (left <= 0 && !leaseLost.signal.aborted) {
        await loseLease(`its ${ttlMs} ms time to live passed without a renewal`).catch((e) =>
          fatal?.(e),
        );
        continue;
      }
      try {
        await clock.sleep(Math.max(left, 1), stopTimers.signal);
      } catch {
        return;
      }
    }
  };

  // --- Running operations ------------------------------------------------------------------
  const drive = (writer: OperationWriter, mode: 'fresh' | 'takeover') => {
    const id = writer.id;
    const definition = definitions.get(writer.state().type);
    const done = driveOperation(
      { store, decode, clock },
      { writer, definition, params: writer.state().params, mode, lost: leaseLost.signal },
    )
      .then(
        () => {
          retryAfter.delete(id);
          const s = writer.state();
          log({
            level: 'info',
            operationId: id,
            message: `operation ${id} ${s.status}${s.status === 'failed' ? ` (rollback ${s.rollback.status})` : ''}`,
          });
        },
        (error: unknown) => {
          if (error instanceof OperationLostError || leaseLost.signal.aborted) {
            log({
              level: 'warn',
              operationId: id,
              message: `lost operation ${id}: ${error instanceof Error ? error.message : String(error)}`,
            });
          } else {
            retryAfter.set(id, clock.now().getTime() + renewEveryMs);
            log({
              level: 'error',
              operationId: id,
              message: `operation ${id} stopped: ${error instanceof Error ? error.message : String(error)}; retried later`,
            });
          }
        },
      )
      .finally(() => {
        running.delete(id);
        schedule();
      });
    running.set(id, { writer, done });
  };

  const fenced = (claim: OperationWriter) =>
    createOperationWriter(store, decode, claim.id, claim.snapshot(), claim.state().owner?.fence);

  const claim = async (id: string) => {
    const loaded = await loadOperation(store, decode, id);
    const writer = createOperationWriter(store, decode, id, loaded);
    try {
      await writer.execute({ type: 'ClaimOperation', worker: identity, lease, at: now() });
    } catch (error) {
      if (error instanceof InvalidTransitionError) return; // another worker claimed it first
      throw error;
    }
    log({ level: 'info', operationId: id, message: `claimed operation ${id}` });
    drive(fenced(writer), 'fresh');
  };

  const takeOver = async (state: OperationState, from: LeaseRecord) => {
    const loaded = await loadOperation(store, decode, state.id);
    if (loaded.state.owner?.lease !== from.info.lease || hasEnded(loaded.state)) return;
    const writer = createOperationWriter(store, decode, state.id, loaded);
    try {
      await writer.execute({
        type: 'TakeOverOperation',
        from: from.info.lease,
        worker: identity,
        lease,
        reason: from.status === 'expired' ? 'lease_expired' : 'lease_released',
        leaseEndedAt: from.lastRecordedAt.toISOString(),
        at: now(),
      });
    } catch (error) {
      if (error instanceof InvalidTransitionError) return; // another worker took it first
      throw error;
    }
    log({
      level: 'info',
      operationId: state.id,
      message: `took over operation ${state.id} from ${from.info.worker}`,
    });
    const s = writer.state();
    drive(fenced(writer), s.status === 'running' && !s.failure ? 'takeover' : 'fresh');
  };

  const resume = async (id: string) => {
    const loaded = await loadOperation(store, decode, id);
    if (loaded.state.owner?.lease !== lease || hasEnded(loaded.state)) return;
    drive(createOperationWriter(store, decode, id, loaded, loaded.state.owner.fence), 'fresh');
  };

  /**
   * Places whose operation was never written (its client died between its two writes), and
   * ended holders never let go, are freed. A slow client may still be between the two: the
   * grace is long, and an operation that finds its place gone takes a new one (below).
   */
  const placeGraceMs = Math.max(4 * ttlMs, 30_000);
  const checked = new Map<string, number>();
  const freeStalePlace = async (queue: string, id: string, storeNow: Date, recordedAt: Date) => {
    if (storeNow.getTime() - recordedAt.getTime() < placeGraceMs) return;
    const key = `${queue}\n${id}`;
    if ((checked.get(key) ?? 0) > clock.now().getTime()) return;
    checked.set(key, clock.now().getTime() + ttlMs);
    const { state } = await loadOperation(store, decode, id);
    if (state.status === 'none' || hasEnded(state)) {
      await releaseResource(store, decode, queue, id, now());
    }
  };

  // --- Finding work ------------------------------------------------------------------------
  let lastLeaseCheck = 0;
  const hasRoom = () => claiming && running.size < concurrency;

  const findWork = async () => {
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
    const timeNow = clock.now().getTime();
    lastLeaseCheck = timeNow;
    for (const state of [...index.operations.values()]) {
      if (!hasRoom()) break;
      if (running.has(state.id) || !state.owner) continue;
      if ((retryAfter.get(state.id) ?? 0) > timeNow) continue;
      if (!definitions.has(state.type)) {
        if (!reportedMissing.has(state.id) && state.owner.lease !== lease) {
          const record = leaseOf(state.owner.lease);
          if (record && record.status !== 'live') {
            reportedMissing.add(state.id);
            log({
              level: 'error',
              operationId: state.id,
              message: new MissingDefinitionError(state.id, state.type, [...definitions.keys()])
                .message,
            });
          }
        }
        continue;
      }
      if (state.owner.lease === lease) {
        await resume(state.id);
        continue;
      }
      const record = leaseOf(state.owner.lease);
      if (record && record.status !== 'live') await takeOver(state, record);
    }
    for (const state of [...index.operations.values()]) {
      if (state.status !== 'queued' || state.owner) continue;
      const stream = resourceStreamName(state.environment, state.resource);
      if (!index.queues.get(stream)?.state.waiting.includes(state.id)) {
        await enqueueOnResource(store, stream, state.id, now());
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
    for (const { id } of heads) {
      if (!hasRoom()) break;
      // Many claims take a while under load: a lease that ends meanwhile is not kept waiting.
      if (clock.now().getTime() - lastLeaseCheck > renewEveryMs / 2) {
        again = true;
        break;
      }
      if (!running.has(id)) await claim(id);
    }
  };

  let busy = false;
  let again = false;
  const schedule = () => {
    if (stopping && !claiming && running.size === 0) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    void (async () => {
      do {
        again = false;
        try {
          await findWork();
        } catch (error) {
          log({ level: 'warn', message: `could not look for work: ${String(error)}` });
        }
      } while (again && !stopTimers.signal.aborted);
      busy = false;
    })();
  };

  const index = createWorkIndex(store, decode, schedule, (error) => {
    log({ level: 'error', message: `stopped following the store: ${String(error)}` });
    fatal?.(error);
  });
  try {
    await takeLease();
    await index.ready;
  } catch (error) {
    index.stop();
    throw error;
  }
  void renewLoop();
  void watchdog();
  schedule();

  const shutdown = async ({ graceMs = 30_000 }: { graceMs?: number } = {}) => {
    if (stopping) return stopped;
    stopping = true;
    claiming = false;
    const all = () => Promise.allSettled([...running.values()].map((r) => r.done));
    const grace = new AbortController();
    await Promise.race([all(), clock.sleep(graceMs, grace.signal).catch(() => undefined)]);
    grace.abort();
    for (const { writer } of running.values()) {
      await writer
        .execute({
          type: 'RequestCancellation',
          user: `worker ${identity} (shutting down)`,
          at: now(),
        })
        .catch(() => undefined);
    }
    await all();
    stopTimers.abort();
    index.stop();
    if (!leaseLost.signal.aborted) {
      await renewLease(store, lease, leaseRevision, {
        type: 'WorkerLeaseReleased',
        data: { holding: [...running.keys()], at: now() },
      });
    }
    stoppedResolve();
    return stopped;
  };

  return {
    identity,
    lease: () => lease,
    running: () => [...running.keys()],
    shutdown,
    stopped,
  };
};
