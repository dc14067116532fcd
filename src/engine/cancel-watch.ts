import { filter, type Subscription } from 'rxjs';
import { OperationCancelledError } from '../domain/errors.js';
import type { EventStore } from '../domain/event-store.js';
import { operationStreamName } from '../domain/stream-names.js';
import type { OperationWriter } from './operation-stream.js';

/** For what nothing may interrupt: non-interruptible steps and undos. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/**
 * Watches one operation's stream for a cancel, as one object owning the abort controller of
 * the run. Cancels may come from any process, so it reads the stream rather than a local flag.
 * A cancel aborts the signal only while an interruptible step (or a retry's wait) is running;
 * a non-interruptible step is let finish, and the run stops before its next attempt.
 */
export class CancelWatch {
  private readonly controller = new AbortController();
  private interruptible = true;
  private cancelRequested: boolean;
  private readonly subscription: Subscription;

  constructor(store: EventStore, writer: OperationWriter) {
    this.cancelRequested = writer.state().cancelled;
    this.subscription = store
      .subscribe({ after: writer.lastPosition() })
      .pipe(
        filter(
          (r) =>
            r.streamName === operationStreamName(writer.id) && r.type === 'CancellationRequested',
        ),
      )
      .subscribe({
        next: () => {
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

  /** Records a cancel seen elsewhere (while waiting for the resource). */
  request(): void {
    this.cancelRequested = true;
  }

  /** Aborted by a cancel: for waits between attempts. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The signal a step's run gets: never aborted for a step that is not interruptible. */
  enterStep(interruptible: boolean): AbortSignal {
    this.interruptible = interruptible;
    return interruptible ? this.controller.signal : NEVER_ABORTED;
  }

  leaveStep(): void {
    this.interruptible = true;
  }

  stop(): void {
    this.subscription.unsubscribe();
  }
}
