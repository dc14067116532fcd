import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { transition, type OperationCommand } from '../domain/decide.js';
import {
  ConcurrencyError,
  OperationLostError,
  OperationNotFoundError,
  type OpledgerError,
} from '../domain/errors.js';
import {
  appendNowOf,
  readStreamNowOf,
  type EventData,
  type EventStore,
  type RecordedEvent,
} from '../domain/event-store.js';
import type { OperationEvent } from '../domain/events.js';
import { foldOperation, initialState, type OperationState } from '../domain/operation.js';
import { fenceError } from '../domain/ownership.js';
import { operationStreamName } from '../domain/stream-names.js';
import {
  decodeOperationEvent,
  encodeOperationEvent,
  type Decode,
  type LoadedOperation,
} from './operation-stream.js';

export interface OperationWriter {
  readonly id: string;
  /**
   * The state the commands given so far lead to, staged ones included: what the engine decides
   * its next action from. Equal to the stream's once nothing is waiting to be appended.
   */
  state(): OperationState;
  /** The global position of the last event of this stream that is durable. */
  lastPosition(): bigint;
  /**
   * Decides and appends, in call order, together with every command staged or enqueued before
   * it (one append); resolves once its events are durable. On a concurrency conflict (a cancel
   * written by another process) it reads what was appended since and decides again. When a
   * staged command was refused on that second decision, its error is the one raised.
   */
  execute(
    command: OperationCommand,
    options?: { metadata?: Record<string, unknown> },
  ): Promise<OperationEvent[]>;
  /**
   * `execute`, done before it returns when it can be (a store that appends synchronously, with
   * nothing in flight): then its events are returned as they are and a refusal is thrown, else
   * its promise. For a loop that should not give up its turn when nothing made it wait.
   */
  executeSoon(
    command: OperationCommand,
    options?: { metadata?: Record<string, unknown> },
  ): OperationEvent[] | Promise<OperationEvent[]>;
  /** Queues a command and appends it soon, without waiting; its failure is raised by the next `execute`. */
  enqueue(command: OperationCommand): void;
  /**
   * Decides a command now (a refusal is thrown at once) and keeps its events for the next
   * append: for an event decided together with the next one (a step's success with the next
   * step's start), so the two cost one append. Nothing staged may be relied on as durable
   * before an `execute` or `flush` after it resolved.
   */
  stage(command: OperationCommand): void;
  /** Appends whatever is staged or enqueued; resolves once it is durable. */
  flush(): Promise<void>;
  /** Reads what was appended after what this writer knows (a tail, not the whole stream). */
  refresh(): Promise<OperationState>;
  /** The fencing count this writer appends under; undefined for an engine's own operation. */
  readonly fence: number | undefined;
  /** What this writer has read and written so far: to hand on to another writer. */
  snapshot(): LoadedOperation;
  /**
   * Stops every later `execute` and `enqueue` from writing, without a read: for a worker
   * that knows it lost its lease and must not append after its successor.
   */
  revoke(error: OperationLostError): void;
}

const MAX_CONFLICT_RETRIES = 50;

/**
 * The engine's edge for the domain's answer: a refused command is raised here, once, as its
 * typed error, named after the stream (the domain cannot name an operation it has no event of).
 */
const orThrow = <A>(id: string, decision: E.Either<OpledgerError, A>): A =>
  pipe(
    decision,
    E.getOrElse<OpledgerError, A>((error) => {
      throw error instanceof OperationNotFoundError ? new OperationNotFoundError(id) : error;
    }),
  );

/** A command decided and waiting for its append. */
interface Pending {
  command: OperationCommand;
  events: OperationEvent[];
  /** The state after its events (and every pending one before it). */
  after: OperationState;
  kind: 'execute' | 'enqueue' | 'stage';
  /** Metadata for its events (the request's trace context). */
  metadata?: Record<string, unknown>;
  resolve: (events: OperationEvent[]) => void;
  reject: (error: unknown) => void;
}

interface Reader {
  resolve: () => void;
  reject: (error: unknown) => void;
}

const ignore = () => undefined;

/**
 * The operation's writer: it decides each command against the state the commands before it
 * lead to and appends their events in call order. Commands that wait while an append is in
 * flight, and commands staged to go with the next one, share one append: the events and their
 * order in the stream are those of one append per command, only the number of appends drops.
 *
 * @example
 * ```ts
 * const writer = createOperationWriter(store, decode, 'op-1');
 * await writer.execute({ type: 'StartOperation', data: { at: new Date().toISOString() } });
 * ```
 */
export const createOperationWriter = (
  store: EventStore,
  decode: Decode,
  id: string,
  loaded: LoadedOperation = { state: initialState(), revision: -1n, lastPosition: 0n },
  fence?: number,
): OperationWriter => new StreamWriter(store, decode, id, loaded, fence);

/**
 * One object per operation run, with its state in fields and its behaviour in methods, rather
 * than a factory's object literal of closures. V8 decides per object literal whether to
 * allocate its objects straight in the old generation ("pretenuring"), when most of them
 * outlive a young-generation collection. It took that decision for the writer's literal, with
 * 16 operations in flight and sometimes with one, and then each dead writer (old) kept its
 * closures, their context and the operation's states (young) alive through the next
 * collections, which promoted them: nearly twice the promoted bytes, two fifths more time in
 * young collections (bench/NOTES.md, "Round 10"). Instances made by `new` were born young in
 * every measurement (V8 tracks allocation sites for literals), and methods are not allocated
 * per run.
 */
class StreamWriter implements OperationWriter {
  /** What the stream holds, as far as this writer knows. */
  private durable: OperationState;
  private revision: bigint;
  private position: bigint;
  private revoked: OperationLostError | undefined = undefined;
  /** A staged or enqueued command's refusal, raised by the next `execute` or `flush`. */
  private deferred: unknown = undefined;
  private queue: Pending[] = [];
  /** The append or read in flight, if any: the next one waits for it. */
  private busy: Promise<void> | undefined = undefined;
  private readers: Reader[] = [];
  /** An append of what was enqueued is scheduled for the end of this turn. */
  private scheduled = false;
  /** The commands of the append in flight, if any: decided, not yet durable. */
  private sending: Pending[] = [];
  private readonly stream: string;
  /** An enqueued command's refusal is kept for the next `execute`: bound once, not per call. */
  private readonly keepError = (error: unknown): void => {
    this.deferred ??= error;
  };

  constructor(
    private readonly store: EventStore,
    private readonly decode: Decode,
    readonly id: string,
    loaded: LoadedOperation,
    readonly fence: number | undefined,
  ) {
    this.durable = loaded.state;
    this.revision = loaded.revision;
    this.position = loaded.lastPosition;
    this.stream = operationStreamName(id);
  }

  // The commands in flight count as given: a state read while a step's success is being
  // appended must show the step succeeded, not still running (a rollback planned on that would
  // take the step's outcome as unknown).
  state(): OperationState {
    return this.queue.at(-1)?.after ?? this.sending.at(-1)?.after ?? this.durable;
  }

  lastPosition(): bigint {
    return this.position;
  }

  snapshot(): LoadedOperation {
    return { state: this.durable, revision: this.revision, lastPosition: this.position };
  }

  revoke(error: OperationLostError): void {
    this.revoked ??= error;
  }

  async execute(
    command: OperationCommand,
    options?: { metadata?: Record<string, unknown> },
  ): Promise<OperationEvent[]> {
    return this.executeSoon(command, options);
  }

  executeSoon(
    command: OperationCommand,
    options?: { metadata?: Record<string, unknown> },
  ): OperationEvent[] | Promise<OperationEvent[]> {
    if (!this.busy && this.readers.length === 0 && appendNowOf(this.store)) {
      const now = this.executeNow(command, options?.metadata);
      if (now !== undefined) return now;
    }
    return this.executeQueued(command, options?.metadata);
  }

  enqueue(command: OperationCommand): void {
    try {
      this.push(command, 'enqueue', ignore, this.keepError);
    } catch (error) {
      this.keepError(error);
      return;
    }
    // Once this turn ends: the lines a step logs together share an append.
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        if (this.queue.length > 0) void this.pump();
      });
    }
  }

  // No promise: a staged command's refusal is kept for the next `execute` (see redecide).
  stage(command: OperationCommand): void {
    this.push(command, 'stage', ignore, ignore);
  }

  async flush(): Promise<void> {
    if (!this.appendPendingNow() && (this.queue.length > 0 || this.busy)) await this.pump();
    this.raiseDeferred();
  }

  async refresh(): Promise<OperationState> {
    // Nothing in flight or waiting, on a store that reads synchronously: read here.
    if (!this.busy && this.queue.length === 0 && this.readers.length === 0) {
      const recorded = readStreamNowOf(this.store)?.(this.stream, this.tailOptions());
      if (recorded) {
        this.foldTail(recorded);
        return this.state();
      }
    }
    const read = new Promise<void>((resolve, reject) => this.readers.push({ resolve, reject }));
    void this.pump();
    await read;
    return this.state();
  }

  /** Refused if the writer lost the operation, else the command's events and state after. */
  private decideOn(command: OperationCommand, state: OperationState) {
    if (this.revoked) throw this.revoked;
    // A takeover raised the fence: it was read after a conflict, and nothing more is ours.
    if (state.status !== 'none') {
      const lost = fenceError(state, this.fence);
      if (lost) throw (this.revoked = lost);
    }
    return orThrow(this.id, transition(command, state));
  }

  private tailOptions() {
    return this.revision >= 0n ? { from: this.revision + 1n } : undefined;
  }

  /** Folds what was appended after `revision` (streams only grow: the tail is enough). */
  private async readTail(): Promise<void> {
    this.foldTail(await this.store.readStream(this.stream, this.tailOptions()));
  }

  private foldTail(recorded: RecordedEvent[]): void {
    const last = recorded.at(-1);
    if (!last) return;
    // One frozen state for the whole tail, not one per event.
    this.durable = foldOperation(
      recorded.map((r) => decodeOperationEvent(this.decode, r)),
      this.durable,
    );
    this.revision = last.streamRevision;
    this.position = last.globalPosition;
  }

  /**
   * Decides `batch` again from the durable state, after a conflict: a command now refused is
   * rejected (a staged one's error is kept for the next `execute`), the others go on.
   */
  private redecide(batch: Pending[]): Pending[] {
    const kept: Pending[] = [];
    let state = this.durable;
    for (const p of batch) {
      try {
        const { events, state: after } = this.decideOn(p.command, state);
        p.events = events;
        p.after = state = after;
        kept.push(p);
      } catch (error) {
        if (p.kind === 'stage') this.deferred ??= error;
        p.reject(error);
      }
    }
    return kept;
  }

  /** The events of `batch`, as stored; none when no command of it wrote any. */
  private encode(batch: Pending[]): EventData[] {
    const encoded: EventData[] = [];
    for (const p of batch) {
      for (const event of p.events) {
        encoded.push(encodeOperationEvent(event, p.metadata, this.fence));
      }
    }
    return encoded;
  }

  /**
   * On a store that appends synchronously (in memory), appends every pending command at once,
   * when nothing is in flight: true when it went through. A refusal or a failure leaves the
   * queue as it was, for the pump to append as on any store (the store wrote nothing: it checks
   * and copies everything before it stores any), with its conflict handling and its errors.
   * The synchronous append is looked up each time, not once: it is withdrawn when someone
   * replaces `store.append`.
   */
  private appendPendingNow(): boolean {
    if (this.busy || this.readers.length > 0 || this.revoked || this.queue.length === 0) {
      return false;
    }
    const now = appendNowOf(this.store);
    if (!now) return false;
    const batch = this.queue;
    const encoded = this.encode(batch);
    if (encoded.length > 0) {
      let result;
      try {
        result = now(this.stream, encoded, {
          expectedVersion: this.revision < 0n ? 'no_stream' : this.revision,
        });
      } catch {
        return false;
      }
      if (result === undefined) return false;
      this.revision = result.nextExpectedRevision;
      this.position = result.lastPosition;
    }
    this.queue = [];
    this.durable = (batch.at(-1) as Pending).after;
    for (const p of batch) p.resolve(p.events);
    return true;
  }

  /** Appends every pending command in one append, after a conflict again; never rejects. */
  private async appendPending(): Promise<void> {
    let batch = this.queue;
    this.queue = [];
    for (let attempt = 0; batch.length > 0; attempt++) {
      this.sending = batch;
      try {
        if (this.revoked) throw this.revoked;
        const encoded = this.encode(batch);
        if (encoded.length > 0) {
          const result = await this.store.append(this.stream, encoded, {
            expectedVersion: this.revision < 0n ? 'no_stream' : this.revision,
          });
          this.revision = result.nextExpectedRevision;
          this.position = result.lastPosition;
        }
        this.durable = (batch.at(-1) as Pending).after;
        this.sending = [];
        for (const p of batch) p.resolve(p.events);
        return;
      } catch (error) {
        let failure = error;
        if (error instanceof ConcurrencyError && attempt < MAX_CONFLICT_RETRIES) {
          try {
            await this.readTail();
            // Commands given meanwhile were decided on a state that no longer holds either.
            batch = this.redecide([...batch, ...this.queue]);
            this.queue = [];
            continue;
          } catch (readError) {
            failure = readError;
          }
        }
        this.sending = [];
        for (const p of batch) p.reject(failure);
        // What was decided after the failed commands assumed their events: decide it again.
        this.queue = this.redecide(this.queue);
        return;
      }
    }
  }

  /**
   * The writer's one worker: appends what is pending, then reads the tail for those waiting on
   * `refresh`, until neither is left. One at a time, so `revision` is never read while an
   * append or a read may change it.
   */
  private pump(): Promise<void> {
    if (this.busy) return this.busy;
    // Nothing to do (what was enqueued may have gone with an append made at once since).
    if (this.queue.length === 0 && this.readers.length === 0) return Promise.resolve();
    let ended = false;
    const run = (async () => {
      try {
        for (;;) {
          if (this.queue.length > 0) {
            await this.appendPending();
            continue;
          }
          if (this.readers.length === 0) break;
          const waiting = this.readers;
          this.readers = [];
          try {
            await this.readTail();
            // Commands given during the read were decided on a state without its events.
            this.queue = this.redecide(this.queue);
            for (const r of waiting) r.resolve();
          } catch (error) {
            for (const r of waiting) r.reject(error);
          }
        }
      } finally {
        ended = true;
        this.busy = undefined;
      }
    })();
    // A run that ended before this line (it found nothing to wait for) must not be left as the
    // one in flight: every later call would take it for one and wait on it, appending nothing.
    if (!ended) this.busy = run;
    return run;
  }

  /** Decides `command` on the state the pending ones lead to (a refusal throws) and queues it. */
  private push(
    command: OperationCommand,
    kind: Pending['kind'],
    resolve: Pending['resolve'],
    reject: Pending['reject'],
    metadata?: Record<string, unknown>,
  ): Pending {
    const { events, state: after } = this.decideOn(command, this.state());
    const pending: Pending = {
      command,
      events,
      after,
      kind,
      resolve,
      reject,
      ...(metadata ? { metadata } : {}),
    };
    this.queue.push(pending);
    return pending;
  }

  private pushAndWait(
    command: OperationCommand,
    metadata?: Record<string, unknown>,
  ): Promise<OperationEvent[]> {
    let refusal: unknown;
    let refused = false;
    const written = new Promise<OperationEvent[]>((resolve, reject) => {
      try {
        this.push(command, 'execute', resolve, reject, metadata);
      } catch (error) {
        refused = true;
        refusal = error;
      }
    });
    if (refused) throw refusal;
    return written;
  }

  /** The events of `written` once the pump appended them, or the batch's first refusal. */
  private async settle(written: Promise<OperationEvent[]>): Promise<OperationEvent[]> {
    void this.pump();
    let events: OperationEvent[];
    try {
      events = await written;
    } catch (error) {
      // The first refusal of the batch is the cause: a staged command before this one.
      this.raiseDeferred();
      throw error;
    }
    this.raiseDeferred();
    return events;
  }

  /**
   * `execute` on a store that appends synchronously, while nothing is in flight: decided and
   * appended here, without the pump; undefined when that cannot be done (a refusal with
   * commands still pending, or an append the pump must make), for the general path.
   */
  private executeNow(
    command: OperationCommand,
    metadata: Record<string, unknown> | undefined,
  ): OperationEvent[] | Promise<OperationEvent[]> | undefined {
    let mine: Pending;
    try {
      mine = this.push(command, 'execute', ignore, ignore, metadata);
    } catch (error) {
      // Refused on what is still to be appended: the general path decides it again after.
      if (this.queue.length === 0) throw error;
      return undefined;
    }
    if (this.appendPendingNow()) {
      this.raiseDeferred();
      return mine.events;
    }
    return this.settle(
      new Promise<OperationEvent[]>((resolve, reject) => {
        mine.resolve = resolve;
        mine.reject = reject;
      }),
    );
  }

  /** The general `execute`: through the pump, waiting for whatever is in flight. */
  private async executeQueued(
    command: OperationCommand,
    metadata: Record<string, unknown> | undefined,
  ): Promise<OperationEvent[]> {
    let written: Promise<OperationEvent[]>;
    try {
      written = this.pushAndWait(command, metadata);
    } catch (error) {
      // Refused on what is still to be appended: decide once more on what was appended.
      if (this.queue.length === 0 && !this.busy) throw error;
      await this.pump();
      written = this.pushAndWait(command, metadata);
    }
    return this.settle(written);
  }

  private raiseDeferred(): void {
    if (this.deferred === undefined) return;
    const error = this.deferred;
    this.deferred = undefined;
    throw error;
  }
}
