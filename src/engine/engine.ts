import { concatMap, defer, filter, lastValueFrom, map, type Observable } from 'rxjs';
import { allowAll, ensureAllowed } from '../domain/authorization.js';
import {
  ConcurrencyError,
  EngineClosedError,
  IdempotencyKeyReusedError,
  InvalidRequestError,
  InvalidTransitionError,
  OperationNotFoundError,
  UnknownOperationTypeError,
} from '../domain/errors.js';
import { createEventDecoder, encodeEvent } from '../domain/event-codec.js';
import type { IdempotencyEvent } from '../domain/events.js';
import { toLogLine, type LogLine } from '../domain/log-lines.js';
import type { OperationDefinition } from '../domain/operation-definition.js';
import { createRedactor } from '../domain/redaction.js';
import { idempotencyStreamName, resourceStreamName } from '../domain/stream-names.js';
import { systemClock } from './clock.js';
import { createTimeOrderedIds } from './ids.js';
import { toOperationResult, toOperationView, type OperationResult } from './operation-result.js';
import {
  createOperationWriter,
  followOperation,
  loadOperation,
  type OperationWriter,
} from './operation-stream.js';
import { enqueueOnResource, releaseResource } from './resource-queue-stream.js';
import { recoverOperations } from './recover.js';
import { driveOperation } from './run-operation.js';
import { parseOperationRequest, validatedParams } from './operation-request.js';
import type { OperationRequest } from './operation-request.js';
import type {
  AnyOperationDefinition,
  CancelOutcome,
  Engine,
  EngineOptions,
  OperationHandle,
  TypedEngine,
} from './engine-api.js';

export type {
  AnyOperationDefinition,
  CancelOutcome,
  Engine,
  EngineOptions,
  OperationHandle,
  OperationRequest,
  TypedEngine,
};

/** Marks a promise as handled for Node while its caller still sees the rejection. */
const quiet = <T>(promise: Promise<T>): Promise<T> => {
  promise.catch(() => undefined);
  return promise;
};

/**
 * An engine running the given operations; its `start` is typed from them (see `Engine`).
 *
 * @example
 * ```ts
 * const engine = createEngine({ store: createInMemoryEventStore(), operations: [deploy] });
 * await engine.start({ type: 'deploy', environment, resource, user, params: { image: 'web:2' } });
 * ```
 */
export const createEngine = <D extends AnyOperationDefinition = AnyOperationDefinition>(
  options: EngineOptions<D>,
): TypedEngine<D> => {
  const { store } = options;
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? createTimeOrderedIds(clock);
  const decode = createEventDecoder(options.upcasters);
  const definitions = new Map<string, OperationDefinition>();
  for (const def of options.operations) {
    if (definitions.has(def.type)) {
      throw new InvalidRequestError(`two definitions register operation type '${def.type}'`);
    }
    definitions.set(def.type, def as OperationDefinition);
  }
  const running = new Map<string, Promise<OperationResult>>();
  /** Operations whose start() has taken their place and not yet launched them. */
  const placing = new Set<string>();
  let closed = false;
  const now = () => clock.now().toISOString();
  const authorize = options.authorize ?? allowAll;

  const launch = (
    writer: OperationWriter,
    params: Record<string, unknown>,
    mode: 'fresh' | 'recover',
  ): Promise<OperationResult> => {
    const existing = running.get(writer.id);
    if (existing) return existing;
    const definition = definitions.get(writer.state().type);
    const result = quiet(
      driveOperation({ store, decode, clock }, { writer, definition, params, mode })
        .then(toOperationResult)
        .finally(() => running.delete(writer.id)),
    );
    running.set(writer.id, result);
    return result;
  };

  const follow = (id: string): Observable<LogLine> =>
    followOperation(store, decode, id).pipe(
      map(({ event, revision, state }) => toLogLine(state.id || id, revision, event)),
      filter((line): line is LogLine => line !== undefined),
    );

  const logs = (id: string, { actor }: { actor?: unknown } = {}): Observable<LogLine> =>
    defer(async () => {
      const { state } = await loadOperation(store, decode, id);
      if (state.status === 'none') throw new OperationNotFoundError(id);
      await ensureAllowed(authorize, actor, 'operation:follow', {
        environment: state.environment,
        operationId: id,
        resource: state.resource,
      });
    }).pipe(concatMap(() => follow(id)));

  const result = (id: string): Promise<OperationResult> =>
    running.get(id) ??
    lastValueFrom(followOperation(store, decode, id)).then((c) => toOperationResult(c.state));

  const handle = (id: string, res: Promise<OperationResult>): OperationHandle => ({
    id,
    // The caller that started or reattached to the operation may follow it.
    logs: follow(id),
    result: quiet(res),
  });

  /** The operation a key already names, or undefined when this request may claim the key. */
  const claimIdempotencyKey = async (key: string, id: string): Promise<string | undefined> => {
    const claim: IdempotencyEvent = {
      type: 'IdempotencyKeyClaimed',
      data: { key, operationId: id, at: now() },
    };
    try {
      await store.append(idempotencyStreamName(key), [encodeEvent(claim)], {
        expectedVersion: 'no_stream',
      });
      return undefined;
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      const [first] = await store.readStream(idempotencyStreamName(key), { maxCount: 1 });
      return (decode(first!) as IdempotencyEvent).data.operationId;
    }
  };

  const keyClaimed = async (key: string): Promise<boolean> =>
    (await store.readStream(idempotencyStreamName(key), { maxCount: 1 })).length > 0;

  const start = async (raw: OperationRequest): Promise<OperationHandle> => {
    if (closed) throw new EngineClosedError();
    const request = parseOperationRequest(raw);
    const definition = definitions.get(request.type);
    if (!definition) throw new UnknownOperationTypeError(request.type, [...definitions.keys()]);
    let params = request.params;
    if (definition.params) {
      params = validatedParams(request.type, await definition.params['~standard'].validate(params));
    }

    // Before the key is claimed, so that a refusal records nothing; a key already claimed was
    // admitted then, and its request is answered with the operation it made.
    if (
      definition.admit &&
      !(request.idempotencyKey && (await keyClaimed(request.idempotencyKey)))
    ) {
      await definition.admit({
        type: request.type,
        environment: request.environment,
        resource: request.resource,
        user: request.user,
        params,
        store,
        upcasters: options.upcasters ?? [],
      });
    }

    let id = ids();
    if (request.idempotencyKey) {
      const owner = await claimIdempotencyKey(request.idempotencyKey, id);
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
          return handle(owner, result(owner));
        }
        // The key was claimed by a request that died before recording its operation: finish it.
        id = owner;
      }
    }

    const planned = definition.steps.filter((s) => !s.when || s.when(params));
    if (planned.length === 0) {
      throw new InvalidRequestError(
        `no step of operation '${request.type}' applies to these params`,
      );
    }
    const redact = createRedactor(definition.sensitive, params);
    const writer = createOperationWriter(store, decode, id);
    const createdAt = now();
    // The request's place in its resource's queue is taken first, by one append: the store's
    // order of these appends is the request order, the same for every process. The operation
    // is written after it, so an operation anyone can see already has its place and no later
    // request can get ahead of it. (A retry of an idempotency key whose first request died
    // between the two writes appends a second entry, which the queue ignores: the first place
    // holds, unless recover() has dropped it.)
    const queue = resourceStreamName(request.environment, request.resource);
    placing.add(id);
    try {
      await enqueueOnResource(store, queue, id, createdAt);
      try {
        await writer.execute({
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
          },
        });
      } catch (error) {
        if (error instanceof InvalidTransitionError) {
          // Two engines raced on one idempotency key and both wrote this id: the other one won.
          if (request.idempotencyKey) return handle(id, result(id));
          // Another operation has this id (an id generator that repeats): the place is its own.
          throw error;
        }
        // An operation that was not written must not hold up the ones behind its place: give
        // it back. If the store fails that too, recover() drops it, as after a crash here.
        await releaseResource(store, decode, queue, id, now()).catch(() => undefined);
        throw error;
      }
      return handle(id, launch(writer, params, 'fresh'));
    } finally {
      placing.delete(id);
    }
  };

  const loadWriter = async (id: string) => {
    const loaded = await loadOperation(store, decode, id);
    return createOperationWriter(store, decode, id, loaded);
  };

  const cancel = async (id: string, { user }: { user: string }): Promise<CancelOutcome> => {
    if (!user) throw new InvalidRequestError('cancel needs the user who asks for it');
    const writer = await loadWriter(id);
    const events = await writer.execute({ type: 'RequestCancellation', data: { user, at: now() } });
    return {
      id,
      status: toOperationView(writer.state()).status,
      alreadyRequested: events.length === 0,
    };
  };

  const continueRollback = async (
    id: string,
    { skip = [] }: { skip?: readonly string[] } = {},
  ): Promise<OperationHandle> => {
    if (closed) throw new EngineClosedError();
    const writer = await loadWriter(id);
    await writer.execute({ type: 'ContinueRollback', data: { skip, at: now() } });
    return handle(id, launch(writer, writer.state().params, 'recover'));
  };

  const recover = async (
    recoverOptions: { operationIds?: readonly string[] } = {},
  ): Promise<OperationResult[]> => {
    if (closed) throw new EngineClosedError();
    return recoverOperations(
      { store, decode, now, running, placing, loadWriter, launch },
      recoverOptions.operationIds,
    );
  };

  return {
    start,
    cancel,
    continueRollback,
    logs,
    result,
    recover,
    getOperation: async (id) => {
      const { state } = await loadOperation(store, decode, id);
      if (state.status === 'none') throw new OperationNotFoundError(id);
      return toOperationView(state);
    },
    shutdown: async () => {
      closed = true;
      await Promise.allSettled([...running.values()]);
    },
  };
};
