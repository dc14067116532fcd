import { filter, map, Observable, takeWhile } from 'rxjs';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { transition, type OperationCommand } from '../domain/decide.js';
import {
  ConcurrencyError,
  OperationLostError,
  OperationNotFoundError,
  StoredEventError,
  type OpledgerError,
} from '../domain/errors.js';
import { encodeEvent } from '../domain/event-codec.js';
import {
  appendNowOf,
  readStreamNowOf,
  type EventData,
  type EventStore,
  type RecordedEvent,
} from '../domain/event-store.js';
import { isOperationEvent, type DomainEvent, type OperationEvent } from '../domain/events.js';
import {
  evolve,
  foldOperation,
  hasEnded,
  initialState,
  type OperationState,
} from '../domain/operation.js';
import { fenceError } from '../domain/ownership.js';
import { operationStreamName } from '../domain/stream-names.js';

export type Decode = (recorded: RecordedEvent) => DomainEvent;

export const decodeOperationEvent = (decode: Decode, recorded: RecordedEvent): OperationEvent => {
  const event = decode(recorded);
  if (!isOperationEvent(event)) {
    throw new StoredEventError(
      'INVALID_STORED_EVENT',
      recorded.streamName,
      recorded.globalPosition,
      recorded.streamRevision,
      `'${event.type}' does not belong in an operation stream`,
      'schema_mismatch',
    );
  }
  return event;
};

/**
 * An operation event as it is stored: encoded, with the metadata its command came with (the
 * request's trace context) and, from a worker, its fence: an audit can show nobody wrote after
 * a takeover. The writer stores its events this way, and so does a request written atomically
 * with its queue place (request-operation.ts), so that both carry the same metadata.
 *
 * @example
 * ```ts
 * const stored = encodeOperationEvent(event, { traceparent }, writer.fence);
 * ```
 */
export const encodeOperationEvent = (
  event: OperationEvent,
  metadata?: Record<string, unknown>,
  fence?: number,
): EventData => {
  const e = encodeEvent(event);
  // encodeEvent gives no metadata of its own: one object, not a spread of a spread per event.
  if (fence !== undefined) e.metadata = { ...metadata, fence };
  else if (metadata) e.metadata = { ...metadata };
  return e;
};

export interface LoadedOperation {
  state: OperationState;
  revision: bigint;
  lastPosition: bigint;
}

export const loadOperation = async (
  store: EventStore,
  decode: Decode,
  id: string,
): Promise<LoadedOperation> => {
  const recorded = await store.readStream(operationStreamName(id));
  const state = foldOperation(recorded.map((r) => decodeOperationEvent(decode, r)));
  const last = recorded.at(-1);
  return { state, revision: last?.streamRevision ?? -1n, lastPosition: last?.globalPosition ?? 0n };
};

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

const ignore = () => undefined;

/**
 * The operation's writer: it decides each command against the state the commands before it
 * lead to and appends their events in call order. Commands that wait while an append is in
 * flight, and commands staged to go with the next one, share one append: the events and their
 * order in the stream are those of one append per command, only the number of appends drops.
 */
export const createOperationWriter = (
  store: EventStore,
  decode: Decode,
  id: string,
  loaded: LoadedOperation = { state: initialState(), revision: -1n, lastPosition: 0n },
  fence?: number,
): OperationWriter => {
  // What the stream holds, as far as this writer knows.
  let { state: durable, revision, lastPosition } = loaded;
  let revoked: OperationLostError | undefined;
  let deferred: unknown;
  let queue: Pending[] = [];
  /** The append or read in flight, if any: the next one waits for it. */
  let busy: Promise<void> | undefined;
  let readers: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  let scheduled = false;
  const stream = operationStreamName(id);

  /** The commands of the append in flight, if any: decided, not yet durable. */
  let sending: Pending[] = [];
  // The commands in flight count as given: a state read while a step's success is being
  // appended must show the step succeeded, not still running (a rollback planned on that would
  // take the step's outcome as unknown).
  const tentative = (): OperationState => queue.at(-1)?.after ?? sending.at(-1)?.after ?? durable;

  /** Refused if the writer lost the operation, else the command's events and state after. */
  const decideOn = (command: OperationCommand, state: OperationState) => {
    if (revoked) throw revoked;
    // A takeover raised the fence: it was read after a conflict, and nothing more is ours.
    if (state.status !== 'none') {
      const lost = fenceError(state, fence);
      if (lost) throw (revoked = lost);
    }
    return orThrow(id, transition(command, state));
  };

  const tailOptions = () => (revision >= 0n ? { from: revision + 1n } : undefined);
  /** Folds what was appended after `revision` (streams only grow: the tail is enough). */
  const readTail = async () => foldTail(await store.readStream(stream, tailOptions()));
  const foldTail = (recorded: RecordedEvent[]) => {
    const last = recorded.at(-1);
    if (last) {
      // One frozen state for the whole tail, not one per event.
      durable = foldOperation(
        recorded.map((r) => decodeOperationEvent(decode, r)),
        durable,
      );
      revision = last.streamRevision;
      lastPosition = last.globalPosition;
    }
  };

  /**
   * Decides `batch` again from the durable state, after a conflict: a command now refused is
   * rejected (a staged one's error is kept for the next `execute`), the others go on.
   */
  const redecide = (batch: Pending[]): Pending[] => {
    const kept: Pending[] = [];
    let state = durable;
    for (const p of batch) {
      try {
        const { events, state: after } = decideOn(p.command, state);
        p.events = events;
        p.after = state = after;
        kept.push(p);
      } catch (error) {
        if (p.kind === 'stage') deferred ??= error;
        p.reject(error);
      }
    }
    return kept;
  };

  /** The events of `batch`, as stored; none when no command of it wrote any. */
  const encode = (batch: Pending[]): EventData[] => {
    const encoded: EventData[] = [];
    for (const p of batch) {
      for (const event of p.events) encoded.push(encodeOperationEvent(event, p.metadata, fence));
    }
    return encoded;
  };

  // Looked up at every append, not once: it is withdrawn when someone replaces `store.append`.
  const appendNow = () => appendNowOf(store);

  /**
   * On a store that appends synchronously (in memory), appends every pending command at once,
   * when nothing is in flight: true when it went through. A refusal or a failure leaves the
   * queue as it was, for the pump to append as on any store (the store wrote nothing: it checks
   * and copies everything before it stores any), with its conflict handling and its errors.
   */
  const appendPendingNow = (): boolean => {
    if (busy || readers.length > 0 || revoked || queue.length === 0) return false;
    const now = appendNow();
    if (!now) return false;
    const batch = queue;
    const encoded = encode(batch);
    if (encoded.length > 0) {
      let result;
      try {
        result = now(stream, encoded, {
          expectedVersion: revision < 0n ? 'no_stream' : revision,
        });
      } catch {
        return false;
      }
      if (result === undefined) return false;
      revision = result.nextExpectedRevision;
      lastPosition = result.lastPosition;
    }
    queue = [];
    durable = (batch.at(-1) as Pending).after;
    for (const p of batch) p.resolve(p.events);
    return true;
  };

  /** Appends every pending command in one append, after a conflict again; never rejects. */
  const appendPending = async (): Promise<void> => {
    let batch = queue;
    queue = [];
    for (let attempt = 0; batch.length > 0; attempt++) {
      sending = batch;
      try {
        if (revoked) throw revoked;
        const encoded = encode(batch);
        if (encoded.length > 0) {
          const result = await store.append(stream, encoded, {
            expectedVersion: revision < 0n ? 'no_stream' : revision,
          });
          revision = result.nextExpectedRevision;
          lastPosition = result.lastPosition;
        }
        durable = (batch.at(-1) as Pending).after;
        sending = [];
        for (const p of batch) p.resolve(p.events);
        return;
      } catch (error) {
        let failure = error;
        if (error instanceof ConcurrencyError && attempt < MAX_CONFLICT_RETRIES) {
          try {
            await readTail();
            // Commands given meanwhile were decided on a state that no longer holds either.
            batch = redecide([...batch, ...queue]);
            queue = [];
            continue;
          } catch (readError) {
            failure = readError;
          }
        }
        sending = [];
        for (const p of batch) p.reject(failure);
        // What was decided after the failed commands assumed their events: decide it again.
        queue = redecide(queue);
        return;
      }
    }
  };

  /**
   * The writer's one worker: appends what is pending, then reads the tail for those waiting on
   * `refresh`, until neither is left. One at a time, so `revision` is never read while an
   * append or a read may change it.
   */
  const pump = (): Promise<void> => {
    if (busy) return busy;
    // Nothing to do (what was enqueued may have gone with an append made at once since).
    if (queue.length === 0 && readers.length === 0) return Promise.resolve();
    let ended = false;
    const run = (async () => {
      try {
        for (;;) {
          if (queue.length > 0) {
            await appendPending();
            continue;
          }
          if (readers.length === 0) break;
          const waiting = readers;
          readers = [];
          try {
            await readTail();
            // Commands given during the read were decided on a state without its events.
            queue = redecide(queue);
            for (const r of waiting) r.resolve();
          } catch (error) {
            for (const r of waiting) r.reject(error);
          }
        }
      } finally {
        ended = true;
        busy = undefined;
      }
    })();
    // A run that ended before this line (it found nothing to wait for) must not be left as the
    // one in flight: every later call would take it for one and wait on it, appending nothing.
    if (!ended) busy = run;
    return run;
  };

  /** Decides `command` on the state the pending ones lead to (a refusal throws) and queues it. */
  const push = (
    command: OperationCommand,
    kind: Pending['kind'],
    resolve: Pending['resolve'],
    reject: Pending['reject'],
    metadata?: Record<string, unknown>,
  ): Pending => {
    const { events, state: after } = decideOn(command, tentative());
    const pending: Pending = {
      command,
      events,
      after,
      kind,
      resolve,
      reject,
      ...(metadata ? { metadata } : {}),
    };
    queue.push(pending);
    return pending;
  };
  const pushAndWait = (
    command: OperationCommand,
    metadata?: Record<string, unknown>,
  ): Promise<OperationEvent[]> => {
    let refusal: unknown;
    let refused = false;
    const written = new Promise<OperationEvent[]>((resolve, reject) => {
      try {
        push(command, 'execute', resolve, reject, metadata);
      } catch (error) {
        refused = true;
        refusal = error;
      }
    });
    if (refused) throw refusal;
    return written;
  };
  /** The events of `written` once the pump appended them, or the batch's first refusal. */
  const settle = async (written: Promise<OperationEvent[]>): Promise<OperationEvent[]> => {
    void pump();
    let events: OperationEvent[];
    try {
      events = await written;
    } catch (error) {
      // The first refusal of the batch is the cause: a staged command before this one.
      raiseDeferred();
      throw error;
    }
    raiseDeferred();
    return events;
  };
  /**
   * `execute` on a store that appends synchronously, while nothing is in flight: decided and
   * appended here, without the pump; undefined when that cannot be done (a refusal with
   * commands still pending, or an append the pump must make), for the general path.
   */
  const executeNow = (
    command: OperationCommand,
    metadata: Record<string, unknown> | undefined,
  ): OperationEvent[] | Promise<OperationEvent[]> | undefined => {
    let mine: Pending;
    try {
      mine = push(command, 'execute', ignore, ignore, metadata);
    } catch (error) {
      // Refused on what is still to be appended: the general path decides it again after.
      if (queue.length === 0) throw error;
      return undefined;
    }
    if (appendPendingNow()) {
      raiseDeferred();
      return mine.events;
    }
    return settle(
      new Promise<OperationEvent[]>((resolve, reject) => {
        mine.resolve = resolve;
        mine.reject = reject;
      }),
    );
  };
  /** The general `execute`: through the pump, waiting for whatever is in flight. */
  const executeQueued = async (
    command: OperationCommand,
    metadata: Record<string, unknown> | undefined,
  ): Promise<OperationEvent[]> => {
    let written: Promise<OperationEvent[]>;
    try {
      written = pushAndWait(command, metadata);
    } catch (error) {
      // Refused on what is still to be appended: decide once more on what was appended.
      if (queue.length === 0 && !busy) throw error;
      await pump();
      written = pushAndWait(command, metadata);
    }
    return settle(written);
  };
  const executeSoon = (
    command: OperationCommand,
    options?: { metadata?: Record<string, unknown> },
  ): OperationEvent[] | Promise<OperationEvent[]> => {
    if (!busy && readers.length === 0 && appendNow()) {
      const now = executeNow(command, options?.metadata);
      if (now !== undefined) return now;
    }
    return executeQueued(command, options?.metadata);
  };
  const keepError = (error: unknown) => {
    deferred ??= error;
  };

  const raiseDeferred = () => {
    if (deferred === undefined) return;
    const error = deferred;
    deferred = undefined;
    throw error;
  };

  return {
    id,
    fence,
    snapshot: () => ({ state: durable, revision, lastPosition }),
    revoke: (error) => {
      revoked ??= error;
    },
    state: tentative,
    lastPosition: () => lastPosition,
    execute: async (command, options) => executeSoon(command, options),
    executeSoon,
    enqueue: (command) => {
      try {
        push(command, 'enqueue', ignore, keepError);
      } catch (error) {
        keepError(error);
        return;
      }
      // Once this turn ends: the lines a step logs together share an append.
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(() => {
          scheduled = false;
          if (queue.length > 0) void pump();
        });
      }
    },
    // No promise: a staged command's refusal is kept for the next `execute` (see redecide).
    stage: (command) => push(command, 'stage', ignore, ignore),
    flush: async () => {
      if (!appendPendingNow() && (queue.length > 0 || busy)) await pump();
      raiseDeferred();
    },
    refresh: async () => {
      // Nothing in flight or waiting, on a store that reads synchronously: read here.
      if (!busy && queue.length === 0 && readers.length === 0) {
        const recorded = readStreamNowOf(store)?.(stream, tailOptions());
        if (recorded) {
          foldTail(recorded);
          return tentative();
        }
      }
      const read = new Promise<void>((resolve, reject) => readers.push({ resolve, reject }));
      void pump();
      await read;
      return tentative();
    },
  };
};

export interface OperationChange {
  event: OperationEvent;
  revision: number;
  state: OperationState;
}

/**
 * An operation's events so far, then live ones, each with the state it leads to; completes
 * after the event that ends the operation. Errors with OperationNotFoundError for no stream.
 */
export const followOperation = (
  store: EventStore,
  decode: Decode,
  id: string,
): Observable<OperationChange> =>
  new Observable<OperationChange>((subscriber) => {
    const stream = operationStreamName(id);
    let state = initialState();
    let live: { unsubscribe(): void } | undefined;
    let stopped = false;
    const step = (r: RecordedEvent): OperationChange => {
      const event = decodeOperationEvent(decode, r);
      state = evolve(state, event);
      return { event, revision: Number(r.streamRevision), state };
    };
    store
      .readStream(stream)
      .then((recorded) => {
        if (stopped) return;
        if (recorded.length === 0) throw new OperationNotFoundError(id);
        // Judge the end by the whole history: a continued rollback reopens an ended operation.
        for (const r of recorded) subscriber.next(step(r));
        if (hasEnded(state)) return subscriber.complete();
        const after = (recorded.at(-1) as RecordedEvent).globalPosition;
        live = store
          .subscribe({ after })
          .pipe(
            filter((r) => r.streamName === stream),
            map(step),
            takeWhile((change) => !hasEnded(change.state), true),
          )
          .subscribe(subscriber);
      })
      .catch((error: unknown) => subscriber.error(error));
    return () => {
      stopped = true;
      live?.unsubscribe();
    };
  });
