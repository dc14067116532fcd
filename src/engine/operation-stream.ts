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
import type { EventStore, RecordedEvent } from '../domain/event-store.js';
import { isOperationEvent, type DomainEvent, type OperationEvent } from '../domain/events.js';
import { evolve, hasEnded, initialState, type OperationState } from '../domain/operation.js';
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
  let state = initialState();
  for (const r of recorded) state = evolve(state, decodeOperationEvent(decode, r));
  const last = recorded.at(-1);
  return { state, revision: last?.streamRevision ?? -1n, lastPosition: last?.globalPosition ?? 0n };
};

export interface OperationWriter {
  readonly id: string;
  state(): OperationState;
  lastPosition(): bigint;
  /**
   * Decides and appends, one command at a time in call order. On a concurrency conflict (a
   * cancel written by another process) it reads the stream again and decides again.
   */
  execute(
    command: OperationCommand,
    options?: { metadata?: Record<string, unknown> },
  ): Promise<OperationEvent[]>;
  /** Queues a command without waiting; its failure is raised by the next `execute`. */
  enqueue(command: OperationCommand): void;
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

export const createOperationWriter = (
  store: EventStore,
  decode: Decode,
  id: string,
  loaded: LoadedOperation = { state: initialState(), revision: -1n, lastPosition: 0n },
  fence?: number,
): OperationWriter => {
  let { state, revision, lastPosition } = loaded;
  let revoked: OperationLostError | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let deferred: unknown;
  const stream = operationStreamName(id);

  const refresh = async () => {
    ({ state, revision, lastPosition } = await loadOperation(store, decode, id));
    return state;
  };

  const apply = async (
    command: OperationCommand,
    metadata: Record<string, unknown> | undefined,
  ): Promise<OperationEvent[]> => {
    for (let attempt = 0; ; attempt++) {
      if (revoked) throw revoked;
      // A takeover raised the fence: it was read after a conflict, and nothing more is ours.
      if (state.status !== 'none') {
        const lost = fenceError(state, fence);
        if (lost) throw (revoked = lost);
      }
      const { events, state: after } = orThrow(id, transition(command, state));
      if (events.length === 0) return events;
      try {
        // A worker's appends carry its fence: an audit can show nobody wrote after a takeover.
        const encoded = events.map(encodeEvent);
        if (metadata) for (const e of encoded) e.metadata = { ...e.metadata, ...metadata };
        if (fence !== undefined) for (const e of encoded) e.metadata = { ...e.metadata, fence };
        const result = await store.append(stream, encoded, {
          expectedVersion: revision < 0n ? 'no_stream' : revision,
        });
        state = after;
        revision = result.nextExpectedRevision;
        lastPosition = result.lastPosition;
        return events;
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt >= MAX_CONFLICT_RETRIES) throw error;
        await refresh();
      }
    }
  };

  const run = (
    command: OperationCommand,
    metadata?: Record<string, unknown>,
  ): Promise<OperationEvent[]> => {
    const result = chain.then(() => apply(command, metadata));
    chain = result.catch(() => undefined);
    return result;
  };

  return {
    id,
    fence,
    snapshot: () => ({ state, revision, lastPosition }),
    revoke: (error) => {
      revoked ??= error;
    },
    state: () => state,
    lastPosition: () => lastPosition,
    execute: async (command, options) => {
      const events = await run(command, options?.metadata);
      if (deferred !== undefined) {
        const error = deferred;
        deferred = undefined;
        throw error;
      }
      return events;
    },
    enqueue: (command) => {
      run(command).catch((error: unknown) => {
        deferred ??= error;
      });
    },
    refresh: () => {
      const result = chain.then(refresh);
      chain = result.catch(() => undefined);
      return result;
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
