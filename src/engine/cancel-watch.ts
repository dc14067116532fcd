import type { Subscription } from 'rxjs';
import { OperationCancelledError, OperationLostError } from '../domain/errors.js';
import type { EventStore, RecordedEvent } from '../domain/event-store.js';
import { operationStreamName } from '../domain/stream-names.js';
import type { OperationWriter } from './operation-writer.js';

/** For what nothing may interrupt: non-interruptible steps and undos of an engine's operation. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

type Listener = (recorded: RecordedEvent) => void;

/**
 * How long a StreamWatch keeps its subscription with nothing watched (see releaseSoon): long
 * enough for the round trips between one run and the next, short because a store may keep the
 * process alive while subscribed (SQLite's poll does until `shutdown()` or the store's close).
 */
export const KEEP_IDLE_MS = 1_000;

/** What a cancel watch reacts to: every other event of an operation's stream it ignores. */
export const WATCHED_TYPES: readonly string[] = ['CancellationRequested', 'OperationTakenOver'];

/**
 * One store subscription for every operation an engine (or a worker) runs, handing each event
 * of the watched types to the watches of its stream: one subscription per running operation
 * delivered (and copied) every event of the store once per operation in flight. Subscribed
 * while anything is watched. The subscription asks the store for the watched types only: the
 * 16 other events of a five-step operation were each copied (with their own `Date`) and
 * delivered to be dropped by the listener.
 *
 * @example
 * ```ts
 * const streams = new StreamWatch(store);
 * const stop = streams.watch('operation-op-1', 41n, 0n, (r) => console.log(r.type));
 * stop();
 * ```
 */
export class StreamWatch {
  private readonly listeners = new Map<string, Set<Listener>>();
  private count = 0;
  private subscription: Subscription | undefined;
  /**
   * The position of the last event the subscription delivered (or where it began). Events of
   * the watched types at or before it were delivered; other types are never asked for, so a
   * later watch that begins before it has missed at most events it would not be given.
   */
  private cursor = 0n;
  private readonly types: ReadonlySet<string>;
  /** A drop of the subscription is scheduled (see releaseSoon). */
  private releasing = false;
  /** When the last watch stopped (Date.now()); a drop waits until KEEP_IDLE_MS after it. */
  private idleSince = 0;
  /** `close` was called: a subscription is no longer kept idle. */
  private closed = false;

  constructor(
    private readonly store: EventStore,
    types: readonly string[] = WATCHED_TYPES,
  ) {
    this.types = new Set(types);
  }

  /**
   * Calls `listener` with the events of the watched types of `stream` after `after` (a global
   * position), until the returned function is called. Events up to where the shared
   * subscription already was are read from the stream (`fromRevision` on), so none is missed;
   * one may come twice.
   */
  watch(stream: string, after: bigint, fromRevision: bigint, listener: Listener): () => void {
    let stopped = false;
    const own: Listener = (r) => {
      if (!stopped && r.globalPosition > after && this.types.has(r.type)) listener(r);
    };
    let set = this.listeners.get(stream);
    if (!set) this.listeners.set(stream, (set = new Set()));
    set.add(own);
    this.count++;
    if (!this.subscription) {
      this.cursor = after;
      this.subscription = this.store.subscribe({ after, types: [...this.types] }).subscribe({
        next: (r) => {
          this.cursor = r.globalPosition;
          const watching = this.listeners.get(r.streamName);
          if (watching) for (const l of watching) l(r);
        },
        // A store that fails for good leaves the watches deaf, as one subscription each did;
        // the next watch subscribes again.
        error: () => {
          this.subscription = undefined;
        },
      });
    } else if (this.cursor > after) {
      // What the subscription passed before this watch began: read it from the stream.
      this.store
        .readStream(stream, fromRevision >= 0n ? { from: fromRevision } : undefined)
        .then((recorded) => {
          for (const r of recorded) own(r);
        })
        .catch(() => undefined);
    }
    return () => {
      if (stopped) return;
      stopped = true;
      set.delete(own);
      if (set.size === 0) this.listeners.delete(stream);
      if (--this.count === 0) this.releaseSoon();
    };
  }

  /**
   * Drops the subscription once nothing has watched for `KEEP_IDLE_MS`. Runs one after another
   * (one operation at a time) leave nothing watched between the end of one and the start of
   * the next. Dropping it there and subscribing again for the next run cost about 5% of a
   * five-step operation's CPU on the memory store, and on PostgreSQL far more: the store's
   * listening connection closes with its last subscriber, and the next run waited for a new one
   * to be opened, about 40 ms an operation, 8 ms of every no-op step (bench/NOTES.md, "The
   * engine's overhead on PostgreSQL"). The timer is unreferenced, but a store may keep the
   * process alive while subscribed (SQLite polls): `close` drops it at once.
   */
  private releaseSoon(): void {
    if (this.closed) {
      this.drop();
      return;
    }
    this.idleSince = Date.now();
    if (this.releasing) return;
    this.releasing = true;
    this.scheduleDrop(KEEP_IDLE_MS);
  }

  // One timer at a time: when it fires within KEEP_IDLE_MS of the latest idle moment (watches
  // came and went meanwhile), it waits for the rest instead of dropping early.
  private scheduleDrop(ms: number): void {
    setTimeout(() => {
      if (this.count > 0) {
        this.releasing = false;
        return;
      }
      const left = this.idleSince + KEEP_IDLE_MS - Date.now();
      if (left > 0) {
        this.scheduleDrop(left);
        return;
      }
      this.releasing = false;
      this.drop();
    }, ms).unref();
  }

  private drop(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  /**
   * Keeps the subscription no longer (an engine's shutdown, a worker's stop): dropped now if
   * nothing is watched, else as soon as the last watch stops. A later watch subscribes again.
   */
  close(): void {
    this.closed = true;
    if (this.count === 0) this.drop();
  }
}

/**
 * Watches one operation's stream for a cancel and for a takeover, as one object owning the
 * abort controllers of the run. Cancels may come from any process, so it reads the stream
 * rather than a local flag. A cancel aborts the signal only while an interruptible step (or a
 * retry's wait) is running; a non-interruptible step is let finish, and the run stops before
 * its next attempt. Losing the operation (a takeover seen on the stream, or the worker's lease
 * lost: `lost`) aborts everything at once, undos and non-interruptible steps too: the
 * successor owns the operation now, and nothing this run still does would be recorded.
 */
export class CancelWatch {
  private readonly controller = new AbortController();
  /**
   * Made when first asked for, already aborted if the operation was lost before: only undos,
   * non-interruptible steps and a lost run read it, and an AbortController is about 3 µs (2% of
   * a five-step operation on memory). The steps' own signal stays made up front: it is a data
   * property of their context (a getter there cost more in garbage than it saved).
   */
  private lostController: AbortController | undefined;
  /** Why the operation was lost; undefined: it was not. */
  private lostWith: { reason: unknown } | undefined;
  private interruptible = true;
  private cancelRequested: boolean;
  private readonly unwatch: () => void;
  /** Aborts everything: the run found out (by a refused append) that it lost the operation. */
  readonly lose: (reason: unknown) => void;
  private readonly unwatchLost: () => void = () => undefined;

  /** `streams`: the engine's (or worker's) shared subscription; without one, a watch of its own. */
  constructor(
    store: EventStore,
    writer: OperationWriter,
    lost?: AbortSignal,
    streams: StreamWatch = new StreamWatch(store),
  ) {
    this.cancelRequested = writer.state().cancelled;
    const loseWith = (this.lose = (reason: unknown) => {
      if (this.lostWith) return;
      // Whatever the cause, nothing more may be written: the successor owns the record now.
      writer.revoke(
        reason instanceof OperationLostError
          ? reason
          : new OperationLostError(writer.id, writer.fence ?? 0, 'lease_lost'),
      );
      this.lostWith = { reason };
      this.lostController?.abort(reason);
      if (!this.controller.signal.aborted) this.controller.abort(reason);
    });
    if (lost) {
      if (lost.aborted) loseWith(lost.reason);
      else {
        // Removed at stop: a worker's lease signal outlives thousands of runs.
        const onLost = () => loseWith(lost.reason);
        lost.addEventListener('abort', onLost, { once: true });
        this.unwatchLost = () => lost.removeEventListener('abort', onLost);
      }
    }
    const { revision, lastPosition } = writer.snapshot();
    this.unwatch = streams.watch(
      operationStreamName(writer.id),
      lastPosition,
      revision + 1n,
      (r) => {
        if (r.type === 'OperationTakenOver' && writer.fence !== undefined) {
          const { worker, fence } = r.data as { worker: string; fence: number };
          if (fence > writer.fence) {
            loseWith(new OperationLostError(writer.id, writer.fence, { worker, fence }));
          }
          return;
        }
        if (r.type !== 'CancellationRequested') return;
        this.cancelRequested = true;
        if (this.interruptible) {
          this.controller.abort(new OperationCancelledError(writer.id));
        }
      },
    );
  }

  /** Whether a cancel was seen: in the state it started from, on the stream, or by `request`. */
  get requested(): boolean {
    return this.cancelRequested;
  }

  /** Whether the run lost its operation to another worker: it must write nothing more. */
  get lost(): boolean {
    return this.lostWith !== undefined;
  }

  /** Records a cancel seen elsewhere (while waiting for the resource). */
  request(): void {
    this.cancelRequested = true;
  }

  /** Aborted by a cancel or by losing the operation: for waits between attempts. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Aborted only by losing the operation: what undos and non-interruptible steps get. */
  get lostSignal(): AbortSignal {
    if (!this.lostController) {
      this.lostController = new AbortController();
      if (this.lostWith) this.lostController.abort(this.lostWith.reason);
    }
    return this.lostController.signal;
  }

  /** The signal a step's run gets: only a lost operation aborts a non-interruptible one. */
  enterStep(interruptible: boolean): AbortSignal {
    this.interruptible = interruptible;
    return interruptible ? this.controller.signal : this.lostSignal;
  }

  leaveStep(): void {
    this.interruptible = true;
  }

  stop(): void {
    this.unwatchLost();
    this.unwatch();
  }
}
