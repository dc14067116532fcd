import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { LeaseLostError } from '../../domain/errors.js';
import type { EventStore } from '../../domain/event-store.js';
import type { Clock } from '../clock.js';
import { createTimeOrderedIds } from '../ids.js';
import { acquireLease, renewLease } from './lease.js';

export interface LeaseKeeperOptions {
  store: EventStore;
  clock: Clock;
  identity: string;
  ttlMs: number;
  renewEveryMs: number;
  concurrency: number;
  operationTypes: readonly string[];
  /** The operations held now: written with each renewal, for `opledger workers`. */
  holding: () => string[];
  /** After each renewal round: the worker looks for work then too. */
  renewed: () => void;
  warn: (message: string) => void;
  /** A failure the keeper cannot recover from (taking a new lease failed). */
  fatal: (error: unknown) => void;
}

/**
 * One object owning a worker's lease (as Temporal's activity object owns one execution): it
 * takes the lease, renews it at the revision it last wrote, and judges it lost the moment its
 * time is up, by a watchdog beside the renewals, so that a worker waking from a pause aborts
 * its runs before anything else. A lost lease aborts its signal and a new one is taken.
 */
export interface LeaseKeeper {
  /** The lease held now. */
  current(): string;
  /** Aborted (with a LeaseLostError) when the current lease is lost; a new lease, a new signal. */
  signal(): AbortSignal;
  /**
   * Stops renewing and releases the lease (unless it was lost), saying what it still held. It
   * waits at most until the lease would run out by itself: a release the store cannot take by
   * then is given up with a warning, not an error (the lease expires as after a crash).
   */
  release(holding: string[]): Promise<void>;
}

export const keepLease = async (o: LeaseKeeperOptions): Promise<LeaseKeeper> => {
  const { store, clock, ttlMs } = o;
  const leaseIds = createTimeOrderedIds(clock);
  const now = () => clock.now().toISOString();
  let lease = '';
  let revision = -1n;
  let lost = new AbortController();
  /** Local time the last successful renewal began: the lease is ours for ttlMs after it. */
  let renewedAt = 0;
  let stopped = false;
  const stopTimers = new AbortController();

  /**
   * The new lease being written, if any: a renewal waits for it, as it would otherwise append
   * to the new lease's stream at the old lease's revision, conflict, and judge the new lease
   * lost before it was ever held.
   */
  let taking: Promise<void> | undefined;

  /**
   * Renews a lease just written until it has at least a renewal period left: false when another
   * worker expired it first. Its time is counted from when its write began (the store may have
   * recorded it then), so a write that took longer than its time to live (the store locked: on
   * SQLite, by a paused process) left a lease the watchdog judged lost the moment it was held,
   * aborting at once what the worker had just claimed or taken over under it. A renewal that
   * goes through at its revision proves no other worker expired it, so none took anything of it.
   */
  const confirm = async (): Promise<boolean> => {
    while (!stopped && clock.now().getTime() - renewedAt > ttlMs - o.renewEveryMs) {
      const startedAt = clock.now().getTime();
      const next = await renewLease(store, lease, revision, {
        type: 'WorkerLeaseRenewed',
        data: { holding: o.holding(), at: now() },
      });
      if (next === undefined) return false;
      revision = next;
      renewedAt = startedAt;
    }
    return true;
  };

  const takeOnce = async () => {
    for (;;) {
      lease = `${o.identity}.${leaseIds()}`;
      lost = new AbortController();
      // Every run under the lease listens to it (and stops listening when it ends): as many as
      // the worker's concurrency, past Node's default warning at 10.
      setMaxListeners(0, lost.signal);
      renewedAt = clock.now().getTime();
      revision = await acquireLease(store, {
        lease,
        worker: o.identity,
        host: hostname(),
        pid: process.pid,
        ttlMs,
        renewEveryMs: o.renewEveryMs,
        concurrency: o.concurrency,
        operations: [...o.operationTypes],
        at: now(),
      });
      if (await confirm()) return;
      const reason = 'written too late: another worker expired it before its first renewal';
      lost.abort(new LeaseLostError(lease, reason));
      o.warn(
        `lease ${lease} lost (${reason}): its operations were aborted and are left to the worker that takes them over`,
      );
      if (stopped) return;
    }
  };

  const take = () => {
    const current: Promise<void> = takeOnce().finally(() => {
      if (taking === current) taking = undefined;
    });
    return (taking = current);
  };

  /** Loses `which` (the lease held now by default); nothing if that lease is already gone. */
  const lose = async (reason: string, which = lease) => {
    // Both the watchdog and a renewal may find the same lease lost: the first one takes the
    // next lease, and the other must not abort that one.
    if (which !== lease || lost.signal.aborted) return;
    lost.abort(new LeaseLostError(which, reason));
    o.warn(
      `lease ${which} lost (${reason}): its operations were aborted and are left to the worker that takes them over`,
    );
    if (!stopped) await take();
  };

  const renew = async () => {
    if (taking) await taking.catch(() => undefined);
    const startedAt = clock.now().getTime();
    if (startedAt - renewedAt > ttlMs) {
      return lose(
        `not renewed for ${startedAt - renewedAt} ms, past its ${ttlMs} ms time to live (the process was paused or cut off from the store)`,
      );
    }
    const renewing = lease;
    const renewingSignal = lost.signal;
    const next = await renewLease(store, renewing, revision, {
      type: 'WorkerLeaseRenewed',
      data: { holding: o.holding(), at: now() },
    });
    // The watchdog judged this lease lost while its renewal was in flight (a slow store): the
    // answer is about a lease this worker gave up, and its revision and time are not the new
    // lease's (taking them made the next renewal of the new lease conflict, and lose it too).
    if (renewing !== lease || renewingSignal.aborted) return;
    if (next === undefined) {
      return lose('another worker found it expired and took it over', renewing);
    }
    revision = next;
    renewedAt = startedAt;
  };

  const renewLoop = async () => {
    while (!stopTimers.signal.aborted) {
      try {
        await clock.sleep(o.renewEveryMs, stopTimers.signal);
      } catch {
        return;
      }
      try {
        await renew();
      } catch (error) {
        o.warn(`could not renew lease ${lease}: ${String(error)}`);
      }
      o.renewed();
    }
  };

  const watchdog = async () => {
    while (!stopTimers.signal.aborted) {
      const left = renewedAt + ttlMs - clock.now().getTime();
      if (left <= 0 && !lost.signal.aborted) {
        await lose(`its ${ttlMs} ms time to live passed without a renewal`).catch(o.fatal);
        continue;
      }
      try {
        await clock.sleep(Math.max(left, 1), stopTimers.signal);
      } catch {
        return;
      }
    }
  };

  await take();
  void renewLoop();
  void watchdog();

  return {
    current: () => lease,
    signal: () => lost.signal,
    release: async (holding) => {
      stopped = true;
      stopTimers.abort();
      const releasing = (async () => {
        if (taking) await taking.catch(() => undefined);
        if (lost.signal.aborted) return 'lost' as const;
        const written = await renewLease(store, lease, revision, {
          type: 'WorkerLeaseReleased',
          data: { holding, at: now() },
        });
        return written === undefined ? ('lost' as const) : ('released' as const);
      })();
      // A release written after the lease ran out adds nothing: another worker may expire it
      // and take over what it held by then anyway. So a store that does not answer (an outage,
      // SQLite's lock held by a paused process) keeps a shutting-down worker only until then,
      // not for the outage decorator's whole budget; the write, if still in flight, may land
      // later (a conflict, harmless, if another worker expired the lease first).
      const giveUp = new AbortController();
      const runsOut = clock
        .sleep(Math.max(0, renewedAt + ttlMs - clock.now().getTime()), giveUp.signal)
        .then(
          () => 'ran out' as const,
          () => 'released' as const,
        );
      const ended = await Promise.race([
        releasing.catch((error: unknown) => ({ error })),
        runsOut,
      ]).finally(() => giveUp.abort());
      if (ended === 'ran out' && !lost.signal.aborted) {
        releasing.catch(() => undefined);
        o.warn(
          `lease ${lease} not released: the store did not take the release before the lease's ${ttlMs} ms time to live ran out; it expires by itself, and its operations are left to the worker that takes them over`,
        );
      } else if (typeof ended === 'object' && !lost.signal.aborted) {
        o.warn(
          `lease ${lease} not released (${String(ended.error)}): it expires by itself, and its operations are left to the worker that takes them over`,
        );
      }
    },
  };
};
