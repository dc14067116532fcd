import * as E from 'fp-ts/lib/Either.js';
import { transition, type OperationCommand } from '../domain/decide.js';
import type { Upcaster } from '../domain/event-codec.js';
import { encodeEvent } from '../domain/event-codec.js';
import {
  ConcurrencyError,
  IdempotencyKeyReusedError,
  InvalidRequestError,
  InvalidTransitionError,
  UnknownOperationTypeError,
} from '../domain/errors.js';
import type { EventStore } from '../domain/event-store.js';
import type { IdempotencyEvent } from '../domain/events.js';
import type { OperationDefinition } from '../domain/operation-definition.js';
import { createRedactor } from '../domain/redaction.js';
import { initialState } from '../domain/operation.js';
import {
  idempotencyStreamName,
  operationStreamName,
  resourceStreamName,
} from '../domain/stream-names.js';
import { encodeOperationEvent, loadOperation, type Decode } from './operation-stream.js';
import { createOperationWriter, type OperationWriter } from './operation-writer.js';
import {
  parseOperationRequest,
  validatedParams,
  type OperationRequest,
} from './operation-request.js';
import {
  enqueueOnResource,
  noteAppended,
  queueEntry,
  queuedEvent,
  releaseResource,
} from './resource-queue-stream.js';
import type { TraceContextInput } from './telemetry/telemetry-options.js';

export interface RequestDeps {
  store: EventStore;
  /**
   * The store an operation's `admit` sees: the one given, riding out outages, without the
   * engine's telemetry observer (which only watches appends). Defaults to `store`.
   */
  admitStore?: EventStore;
  decode: Decode;
  definitions: ReadonlyMap<string, OperationDefinition>;
  upcasters: readonly Upcaster[];
  ids: () => string;
  now: () => string;
  /** Operations whose request has taken their place and not yet been written or launched. */
  placing: Set<string>;
  /** The metadata that carries the request's trace context; absent without telemetry. */
  traceMetadata?: (input: TraceContextInput | undefined) => Record<string, string> | undefined;
}

/** What a request led to: a new operation to run, or one its idempotency key already names. */
export type Requested =
  | { kind: 'new'; writer: OperationWriter; params: Record<string, unknown> }
  | { kind: 'existing'; id: string };

/**
 * Checks a request and writes it: admission, the idempotency key, the request's place in its
 * resource's queue, then the operation's first event. Shared by the engine (which then runs
 * it) and the client (which leaves it for a worker, `dispatch: 'worker'`), so that both
 * request the same way. Nothing is written when the request is refused.
 *
 * @example
 * ```ts
 * const requested = await requestOperation(deps, request, { dispatch: 'worker' });
 * if (requested.kind === 'existing') return requested.id; // an idempotent retry
 * ```
 */
export const requestOperation = async (
  deps: RequestDeps,
  raw: OperationRequest,
  { dispatch }: { dispatch?: 'worker' } = {},
): Promise<Requested> => {
  const { store, decode, definitions, now } = deps;
  const request = parseOperationRequest(raw);
  // The caller's context, before any of ours is entered.
  const metadata = deps.traceMetadata?.(request.traceContext);
  const definition = definitions.get(request.type);
  if (!definition) throw new UnknownOperationTypeError(request.type, [...definitions.keys()]);
  if (dispatch === 'worker' && definition.sensitive && definition.sensitive.length > 0) {
    // Secrets never reach the store, and a worker in another process reads its params there.
    throw new InvalidRequestError(
      `operation '${request.type}' has sensitive params (${definition.sensitive.join(', ')}), which are never written to the event store, so a worker in another process could not read them: start it with an engine (createEngine) in the process that holds them, or pass a reference to the secret instead of its value`,
    );
  }
  let params = request.params;
  if (definition.params) {
    params = validatedParams(request.type, await definition.params['~standard'].validate(params));
  }

  // Before the key is claimed, so that a refusal records nothing; a key already claimed was
  // admitted then, and its request is answered with the operation it made.
  if (
    definition.admit &&
    !(request.idempotencyKey && (await keyClaimed(deps, request.idempotencyKey)))
  ) {
    await definition.admit({
      type: request.type,
      environment: request.environment,
      resource: request.resource,
      user: request.user,
      params,
      store: deps.admitStore ?? store,
      upcasters: deps.upcasters,
    });
  }

  let id = deps.ids();
  if (request.idempotencyKey) {
    const owner = await claimIdempotencyKey(deps, request.idempotencyKey, id);
    if (owner !== undefined) {
      const existing = await loadOperation(store, decode, owner);
      if (existing.state.status !== 'none') {
        const s = existing.state;
        if (
          s.type !== request.type ||
          s.environment !== request.environment ||
          s.resource.type !== request.resource.type ||
          s.resource.handle !== request.resource.handle
        ) {
          throw new IdempotencyKeyReusedError(request.idempotencyKey, owner);
        }
        return { kind: 'existing', id: owner };
      }
      // The key was claimed by a request that died before recording its operation: finish it.
      id = owner;
    }
  }

  const planned = definition.steps.filter((s) => !s.when || s.when(params));
  if (planned.length === 0) {
    throw new InvalidRequestError(`no step of operation '${request.type}' applies to these params`);
  }
  const redact = createRedactor(definition.sensitive, params);
  const createdAt = now();
  // The request's place in its resource's queue is taken first: the store's order of places
  // is the request order, the same for every process. The operation is written with it or
  // after it, so an operation anyone can see already has its place.
  const queue = resourceStreamName(request.environment, request.resource);
  const command: OperationCommand = {
    type: 'RequestOperation',
    data: {
      operationId: id,
      type: request.type,
      environment: request.environment,
      resource: request.resource,
      user: request.user,
      params: redact.params(params),
      createdAt,
      steps: planned.map((s) => ({ name: s.name, kind: s.kind })),
      ...(request.idempotencyKey ? { idempotencyKey: request.idempotencyKey } : {}),
      ...(definition.lifecycle ? { lifecycle: definition.lifecycle } : {}),
      ...(dispatch ? { dispatch } : {}),
    },
  };
  deps.placing.add(id);
  let written = false;
  try {
    let writer: OperationWriter;
    try {
      writer =
        (await placeAndRecordAtomically(deps, queue, id, createdAt, command, metadata)) ??
        (await placeThenRecord(deps, queue, id, createdAt, command, metadata));
      written = true;
    } catch (error) {
      // Two processes raced on one idempotency key and both wrote this id: the other won.
      // (Without a key, another operation has this id, an id generator that repeats: the
      // refusal is raised, and the place, if one was taken, is that operation's.)
      if (error instanceof InvalidTransitionError && request.idempotencyKey) {
        return { kind: 'existing', id };
      }
      throw error;
    }
    return { kind: 'new', writer, params };
  } finally {
    // The engine keeps the place marked until it has launched the operation.
    if (!written || dispatch) deps.placing.delete(id);
  }
};

/**
 * The request's place and its operation's first event in one transaction, on a store that has
 * `appendToStreams`: one commit instead of two, and no crash can leave a place without its
 * operation. The place comes first in the transaction, so the store's order of places is still
 * the request order. Undefined on a store without it.
 */
const placeAndRecordAtomically = async (
  deps: RequestDeps,
  queue: string,
  id: string,
  createdAt: string,
  command: OperationCommand,
  metadata: Record<string, unknown> | undefined,
): Promise<OperationWriter | undefined> => {
  const { store, decode } = deps;
  if (!store.appendToStreams) return undefined;
  const decided = transition(command, initialState());
  if (E.isLeft(decided)) throw decided.left;
  const { events, state } = decided.right;
  try {
    const [placed, recorded] = await store.appendToStreams([
      { stream: queue, events: [queueEntry(id, createdAt)], expectedVersion: 'any' },
      {
        stream: operationStreamName(id),
        // The request's trace context, as the writer would add it.
        events: events.map((e) => encodeOperationEvent(e, metadata)),
        expectedVersion: 'no_stream',
      },
    ]);
    // The run's claim can then be made on this engine's state of the queue, without a read.
    noteAppended(store, decode, queue, queuedEvent(id, createdAt), placed!);
    return createOperationWriter(store, decode, id, {
      state,
      revision: recorded!.nextExpectedRevision,
      lastPosition: recorded!.lastPosition,
    });
  } catch (error) {
    if (!(error instanceof ConcurrencyError)) throw error;
    // The operation's stream exists already, and nothing of this request was written: the
    // request is refused as the domain refuses it on that stream (InvalidTransitionError).
    const existing = await loadOperation(store, decode, id);
    const refused = transition(command, existing.state);
    throw E.isLeft(refused) ? refused.left : error;
  }
};

/**
 * On a store without transactions across streams: the place is taken first, by one append,
 * so that an operation anyone can see already has its place and no later request can get
 * ahead of it. (A retry of an idempotency key whose first request died between the two writes
 * appends a second entry, which the queue ignores: the first place holds, unless recover() or
 * a worker has dropped it.)
 */
const placeThenRecord = async (
  deps: RequestDeps,
  queue: string,
  id: string,
  createdAt: string,
  command: OperationCommand,
  metadata: Record<string, unknown> | undefined,
): Promise<OperationWriter> => {
  const { store, decode, now } = deps;
  const writer = createOperationWriter(store, decode, id);
  await enqueueOnResource(store, decode, queue, id, createdAt);
  try {
    await writer.execute(command, metadata ? { metadata } : undefined);
    return writer;
  } catch (error) {
    if (!(error instanceof InvalidTransitionError)) {
      // An operation that was not written must not hold up the ones behind its place: give
      // it back. If the store fails that too, recover() or a worker drops it, as after a crash.
      await releaseResource(store, decode, queue, id, now()).catch(() => undefined);
    }
    throw error;
  }
};

/** The operation a key already names, or undefined when this request may claim the key. */
const claimIdempotencyKey = async (
  deps: RequestDeps,
  key: string,
  id: string,
): Promise<string | undefined> => {
  const claim: IdempotencyEvent = {
    type: 'IdempotencyKeyClaimed',
    data: { key, operationId: id, at: deps.now() },
  };
  try {
    await deps.store.append(idempotencyStreamName(key), [encodeEvent(claim)], {
      expectedVersion: 'no_stream',
    });
    return undefined;
  } catch (error) {
    if (!(error instanceof ConcurrencyError)) throw error;
    const [first] = await deps.store.readStream(idempotencyStreamName(key), { maxCount: 1 });
    return (deps.decode(first!) as IdempotencyEvent).data.operationId;
  }
};

const keyClaimed = async (deps: RequestDeps, key: string): Promise<boolean> =>
  (await deps.store.readStream(idempotencyStreamName(key), { maxCount: 1 })).length > 0;
