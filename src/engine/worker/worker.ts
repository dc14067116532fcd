import { hostname } from 'node:os';
import { InvalidRequestError, OperationLostError } from '../../domain/errors.js';
import { createEventDecoder, type Upcaster } from '../../domain/event-codec.js';
import type { EventStore } from '../../domain/event-store.js';
import { systemClock, type Clock } from '../clock.js';
import { definitionsByType } from '../client.js';
import type { AnyOperationDefinition, EngineOptions } from '../engine-api.js';
import type { OperationWriter } from '../operation-writer.js';
import { recordOutageInOperationLog } from '../outage-log.js';
import { StreamWatch } from '../cancel-watch.js';
import { driveOperation } from '../run-operation.js';
import { withStoreOutageRetry } from '../store-outage.js';
import { createTelemetry } from '../telemetry/telemetry.js';
import { withTelemetry } from '../telemetry/with-telemetry.js';
import { createWorkFinder } from './find-work.js';
import { keepLease, type LeaseKeeper } from './lease-keeper.js';
import { createWorkIndex } from './work-index.js';
import { defaultLog, type WorkerLogEntry } from './worker-log.js';

export type { WorkerLogEntry };

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
  /** How long its store calls wait out an outage (see `EngineOptions.storeOutage`). */
  storeOutage?: EngineOptions['storeOutage'];
  /** Its traces and metrics, leases and takeovers included (see `EngineOptions.telemetry`). */
  telemetry?: EngineOptions['telemetry'];
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
  // Its calls ride out store outages; the operation log says how long one lasted.
  const store = withTelemetry(
    withStoreOutageRetry(options.store, {
      ...options.storeOutage,
      recordOutage: recordOutageInOperationLog,
    }),
    createTelemetry(options.telemetry),
    'worker',
    createEventDecoder(options.upcasters),
  );
  const clock = options.clock ?? systemClock;
  const decode = createEventDecoder(options.upcasters);
  // One subscription for the cancel watches of every operation this worker runs.
  const streams = new StreamWatch(store);
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
  const now = () => clock.now().toISOString();

  const running = new Map<string, Run>();
  /** Operations whose own run failed for another reason: not resumed before this time. */
  const retryAfter = new Map<string, number>();
  let claiming = true;
  let stopping = false;
  let fatal: ((error: unknown) => void) | undefined;
  let stoppedResolve!: () => void;
  const stopped = new Promise<void>((resolve, reject) => {
    fatal = reject;
    stoppedResolve = resolve;
  });
  stopped.catch(() => undefined);

  const drive = (writer: OperationWriter, mode: 'fresh' | 'takeover') => {
    const id = writer.id;
    const definition = definitions.get(writer.state().type);
    // The lease this run is under: a later lease (after a loss) is not this run's.
    const lost = keeper.signal();
    const done = driveOperation(
      { store, decode, clock, streams },
      { writer, definition, params: writer.state().params, mode, lost },
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
          const why = error instanceof Error ? error.message : String(error);
          if (error instanceof OperationLostError || lost.aborted) {
            log({ level: 'warn', operationId: id, message: `lost operation ${id}: ${why}` });
          } else {
            retryAfter.set(id, clock.now().getTime() + renewEveryMs);
            log({
              level: 'error',
              operationId: id,
              message: `operation ${id} stopped: ${why}; retried later`,
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

  /** Set once the index is ready (see schedule). */
  const finder: { pass?: () => Promise<boolean> } = {};
  // One pass at a time; events that arrive meanwhile ask for one more pass, not one each.
  let busy = false;
  let again = false;
  const schedule = () => {
    // The index calls this while it catches up, before the finder exists: the first pass
    // after it is ready sees everything anyway.
    if (!finder.pass) return;
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
          if (await finder.pass!()) again = true;
        } catch (error) {
          log({ level: 'warn', message: `could not look for work: ${String(error)}` });
        }
      } while (again && !stopping);
      busy = false;
    })();
  };

  const index = createWorkIndex(store, decode, schedule, (error) => {
    log({ level: 'error', message: `stopped following the store: ${String(error)}` });
    fatal?.(error);
  });
  let keeper: LeaseKeeper;
  try {
    keeper = await keepLease({
      store,
      clock,
      identity,
      ttlMs,
      renewEveryMs,
      concurrency,
      operationTypes: [...definitions.keys()],
      holding: () => [...running.keys()],
      renewed: schedule,
      warn: (message) => log({ level: 'warn', message }),
      fatal: (error) => fatal?.(error),
    });
    await index.ready;
  } catch (error) {
    index.stop();
    throw error;
  }
  finder.pass = createWorkFinder({
    store,
    decode,
    clock,
    identity,
    lease: () => keeper.current(),
    definitions,
    index,
    ttlMs,
    renewEveryMs,
    room: () => (claiming ? Math.max(0, concurrency - running.size) : 0),
    isRunning: (id) => running.has(id),
    retryAfter,
    drive,
    log,
  });
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
          data: { user: `worker ${identity} (shutting down)`, at: now() },
        })
        .catch(() => undefined);
    }
    await all();
    index.stop();
    streams.close();
    await keeper.release([...running.keys()]);
    stoppedResolve();
    return stopped;
  };

  return {
    identity,
    lease: () => keeper.current(),
    running: () => [...running.keys()],
    shutdown,
    stopped,
  };
};
