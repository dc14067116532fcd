import { filter, map, Observable, takeWhile } from 'rxjs';
import { OperationNotFoundError, StoredEventError } from '../domain/errors.js';
import { encodeEvent } from '../domain/event-codec.js';
import type { EventData, EventStore, RecordedEvent } from '../domain/event-store.js';
import { isOperationEvent, type DomainEvent, type OperationEvent } from '../domain/events.js';
import {
  evolve,
  foldOperation,
  hasEnded,
  initialState,
  type OperationState,
} from '../domain/operation.js';
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
