import { filter, type Subscription } from 'rxjs';
import { OperationCancelledError, OperationLostError } from '../domain/errors.js';
import type { EventStore } from '../domain/event-store.js';
import { operationStreamName } from '../domain/stream-names.js';
import type { OperationWriter } from './operation-stream.js';

/** For what nothing may interrupt: non-interruptible steps and undos of an engine's operation. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

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
  private readonly lostController = new AbortController();
  private readonly forSteps: AbortSignal;
  private interruptible = true;
  private cancelRequested: boolean;
  private readonly subscription: Subscription;
  /** Aborts everything: the run found out (by a refused append) that it lost the operation. */
  readonly lose: (reason: unknown) => void;
  private readonly unwatchLost: () => void = () => undefined;

  constructor(store: EventStore, writer: OperationWriter, lost?: AbortSignal) {
    this.cancelRequested = writer.state().cancelled;
    // One signal aborted by either, without AbortSignal.any: it costs a weak set and a
    // dependent signal per run, which the engine's benchmark showed (a lost run aborts both).
    this.forSteps = this.controller.signal;
    const loseWith = (this.lose = (reason: unknown) => {
      if (this.lostController.signal.aborted) return;
      // Whatever the cause, nothing more may be written: the successor owns the record now.
      writer.revoke(
        reason instanceof OperationLostError
          ? reason
          : new OperationLostError(writer.id, writer.fence ?? 0, 'lease_lost'),
      );
      this.lostController.abort(reason);
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
    const stream = operationStreamName(writer.id);
    this.subscription = store
      .subscribe({ after: writer.lastPosition() })
      .pipe(filter((r) => r.streamName === stream))
      .subscribe({
        next: (r) => {
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
        error: () => undefined,
      });
  }

  /** Whether a cancel was seen: in the state it started from, on the stream, or by `request`. */
  get requested(): boolean {
    return this.cancelRequested;
  }

  /** Whether the run lost its operation to another worker: it must write nothing more. */
  get lost(): boolean {
    return this.lostController.signal.aborted;
  }

  /** Records a cancel seen elsewhere (while waiting for the resource). */
  request(): void {
    this.cancelRequested = true;
  }

  /** Aborted by a cancel or by losing the operation: for waits between attempts. */
  get signal(): AbortSignal {
    return this.forSteps;
  }

  /** Aborted only by losing the operation: what undos and non-interruptible steps get. */
  get lostSignal(): AbortSignal {
    return this.lostController.signal;
  }

  /** The signal a step's run gets: only a lost operation aborts a non-interruptible one. */
  enterStep(interruptible: boolean): AbortSignal {
    this.interruptible = interruptible;
    return interruptible ? this.forSteps : this.lostController.signal;
  }

  leaveStep(): void {
    this.interruptible = true;
  }

  stop(): void {
    this.unwatchLost();
    this.subscription.unsubscribe();
  }
}
