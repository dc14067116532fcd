import { concatMap, defer, filter, lastValueFrom, map, type Observable } from 'rxjs';
import { allowAll, ensureAllowed, type Authorize } from '../domain/authorization.js';
import { z } from 'zod';
import {
  ConcurrencyError,
  EngineClosedError,
  IdempotencyKeyReusedError,
  InvalidParamsError,
  InvalidRequestError,
  InvalidTransitionError,
  OperationNotFoundError,
  UnknownOperationTypeError,
} from '../domain/errors.js';
import { createEventDecoder, encodeEvent, type Upcaster } from '../domain/event-codec.js';
import type { EventStore } from '../domain/event-store.js';
import type { IdempotencyEvent } from '../domain/events.js';
import { toLogLine, type LogLine } from '../domain/log-lines.js';
import type { OperationDefinition } from '../domain/operation-definition.js';
import { hasEnded } from '../domain/operation.js';
import { createRedactor } from '../domain/redaction.js';
import {
  idempotencyStreamName,
  isResourceStream,
  operationIdOfStream,
  resourceStreamName,
} from '../domain/stream-names.js';
import { systemClock, type Clock } from './clock.js';
import { createTimeOrderedIds } from './ids.js';
import {
  toOperationResult,
  toOperationView,
  type OperationResult,
  type OperationView,
} from './operation-result.js';
import {
  createOperationWriter,
  followOperation,
  loadOperation,
  type OperationWriter,
} from './operation-stream.js';
import { enqueueOnResource, loadResourceQueue, releaseResource } from './resource-queue-stream.js';
import { driveOperation } from './run-operation.js';

export interface EngineOptions {
  store: EventStore;
  // Definitions differ in their params type; the engine treats them all alike.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  operations: readonly OperationDefinition<any>[];
  clock?: Clock;
  /** Operation id generator; ids must sort by creation time. */
  ids?: () => string;
  /** Turn stored events of older versions into the current ones. */
  upcasters?: readonly Upcaster[];
  /** Consulted before `logs(id, { actor })` follows an operation; allows all by default. */
  authorize?: Authorize;
}

// A name of dots only ('.', '..') cannot be a segment of a URL path: browsers and proxies
// resolve it away, so the dashboard's page of such an environment or resource would be another's.
const name = z
  .string()
  .min(1)
  .refine((v) => !/^\.+$/.test(v), { message: 'must not be made of dots only' });

const requestSchema = z.object({
  type: z.string().min(1),
  environment: name,
  resource: z.object({ type: name, handle: name }),
  user: z.string().min(1),
  params: z.record(z.string(), z.unknown()).default({}),
  idempotencyKey: z.string().min(1).optional(),
});

export type OperationRequest = z.input<typeof requestSchema>;

export interface OperationHandle {
  id: string;
  /** The Operation Log: lines so far, then live ones; completes when the operation ends. */
  logs: Observable<LogLine>;
  /** Resolves when the operation has ended, however it ended; rejects only if the store fails. */
  result: Promise<OperationResult>;
}

export interface CancelOutcome {
  id: string;
  status: OperationView['status'];
  /**
   * True when nothing new was written: a cancel was already recorded, or the operation had
   * already failed and is rolling back.
   */
  alreadyRequested: boolean;
}

export interface Engine {
  start(request: OperationRequest): Promise<OperationHandle>;
  cancel(id: string, options: { user: string }): Promise<CancelOutcome>;
  continueRollback(id: string, options?: { skip?: readonly string[] }): Promise<OperationHandle>;
  /** Follows an operation's log live; `actor` is checked with the engine's `authorize`. */
  logs(id: string, options?: { actor?: unknown }): Observable<LogLine>;
  getOperation(id: string): Promise<OperationView>;
  result(id: string): Promise<OperationResult>;
  /**
   * Takes over operations left unfinished by a process that died: rolls back running ones,
   * starts queued ones. All of the store's by default, or only `operationIds`.
   */
  recover(options?: { operationIds?: readonly string[] }): Promise<OperationResult[]>;
  /** Accepts no new operations and waits for the ones running here (and their rollbacks). */
  shutdown(): Promise<void>;
}

/** Marks a promise as handled for Node while its caller still sees the rejection. */
const quiet = <T>(promise: Promise<T>): Promise<T> => {
  promise.catch(() => undefined);
  return promise;
};

export const createEngine = (options: EngineOptions): Engine => {
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

  const start = async (raw: OperationRequest): Promise<OperationHandle> => {
    if (closed) throw new EngineClosedError();
    const parsed = requestSchema.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues.map(
        (i) => `${i.path.join('.') || 'request'}: ${i.message}`,
      );
      throw new InvalidRequestError(issues.join('; '), issues);
    }
    const request = parsed.data;
    const definition = definitions.get(request.type);
    if (!definition) throw new UnknownOperationTypeError(request.type, [...definitions.keys()]);
    let params = request.params;
    if (definition.params) {
      const validated = await definition.params['~standard'].validate(params);
      if (validated.issues) {
        throw new InvalidParamsError(
          request.type,
          validated.issues.map((i) => {
            const path = (i.path ?? [])
              .map((p) => String(typeof p === 'object' ? p.key : p))
              .join('.');
            return path ? `${path}: ${i.message}` : i.message;
          }),
        );
      }
      params = validated.value as Record<string, unknown>;
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
    const events = await writer.execute({ type: 'RequestCancellation', user, at: now() });
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
    await writer.execute({ type: 'ContinueRollback', skip, at: now() });
    return handle(id, launch(writer, writer.state().params, 'recover'));
  };

  const recover = async (
    recoverOptions: { operationIds?: readonly string[] } = {},
  ): Promise<OperationResult[]> => {
    if (closed) throw new EngineClosedError();
    const operationIds = new Set<string>();
    const resourceStreams = new Set<string>();
    const PAGE = 10_000;
    if (recoverOptions.operationIds) {
      // Only these: their resource queues are the only ones they can hold up.
      for (const id of recoverOptions.operationIds) {
        const { state } = await loadOperation(store, decode, id);
        if (state.status === 'none') continue;
        operationIds.add(id);
        resourceStreams.add(resourceStreamName(state.environment, state.resource));
      }
    }
    for (let after = 0n; !recoverOptions.operationIds;) {
      const page = await store.readAll({ after, maxCount: PAGE });
      for (const r of page) {
        const operationId = operationIdOfStream(r.streamName);
        if (operationId !== undefined) operationIds.add(operationId);
        else if (isResourceStream(r.streamName)) resourceStreams.add(r.streamName);
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.globalPosition;
    }
    // Operations that ended but died before letting the next one in, and places taken by a
    // start() that died before writing its operation (it never resolved: nobody was promised
    // that operation; a retry of its idempotency key takes a new place).
    for (const stream of resourceStreams) {
      const queue = await loadResourceQueue(store, decode, stream);
      for (const id of queue.state.waiting) {
        if (running.has(id) || placing.has(id)) continue;
        const { state } = await loadOperation(store, decode, id);
        if (state.status === 'none' || hasEnded(state)) {
          await releaseResource(store, decode, stream, id, now());
        }
      }
    }
    const results: Promise<OperationResult>[] = [];
    for (const id of [...operationIds].sort()) {
      if (running.has(id) || placing.has(id)) continue;
      const writer = await loadWriter(id);
      const state = writer.state();
      if (hasEnded(state)) continue;
      const stream = resourceStreamName(state.environment, state.resource);
      if (state.status === 'queued') {
        const queue = await loadResourceQueue(store, decode, stream);
        if (!queue.state.waiting.includes(id)) await enqueueOnResource(store, stream, id, now());
      }
      results.push(launch(writer, state.params, state.status === 'queued' ? 'fresh' : 'recover'));
    }
    return Promise.all(results);
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
