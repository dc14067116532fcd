import { concatMap, defer, filter, lastValueFrom, map, type Observable } from 'rxjs';
import { allowAll, ensureAllowed, type Authorize } from '../domain/authorization.js';
import { InvalidRequestError, OperationNotFoundError } from '../domain/errors.js';
import { createEventDecoder, type Upcaster } from '../domain/event-codec.js';
import type { EventStore } from '../domain/event-store.js';
import { toLogLine, type LogLine } from '../domain/log-lines.js';
import type { OperationDefinition } from '../domain/operation-definition.js';
import { isoNow, systemClock, type Clock } from './clock.js';
import { withStoreOutageRetry } from './store-outage.js';
import type {
  AnyOperationDefinition,
  EngineOptions,
  CancelOutcome,
  OperationHandle,
  OperationRequestFor,
  RuntimeType,
} from './engine-api.js';
import { createTimeOrderedIds } from './ids.js';
import type { OperationRequest } from './operation-request.js';
import {
  toOperationResult,
  toOperationView,
  type OperationResult,
  type OperationView,
} from './operation-result.js';
import { followOperation, loadOperation, type Decode } from './operation-stream.js';
import { createOperationWriter } from './operation-writer.js';
import { requestOperation } from './request-operation.js';
import { createTelemetry } from './telemetry/telemetry.js';
import { withTelemetry } from './telemetry/with-telemetry.js';

/** Marks a promise as handled for Node while its caller still sees the rejection. */
export const quiet = <T>(promise: Promise<T>): Promise<T> => {
  promise.catch(() => undefined);
  return promise;
};

export interface ClientOptions<D extends AnyOperationDefinition = AnyOperationDefinition> {
  store: EventStore;
  /**
   * The definitions whose requests this client may write: it validates their params and plans
   * their steps, and never runs one. Not needed to read, follow or cancel.
   */
  operations?: readonly D[];
  clock?: Clock;
  /** Operation id generator; ids must sort by creation time. */
  ids?: () => string;
  upcasters?: readonly Upcaster[];
  /** Consulted before `logs(id, { actor })` follows an operation; allows all by default. */
  authorize?: Authorize;
  /** How long its store calls wait out an outage (see `EngineOptions.storeOutage`). */
  storeOutage?: EngineOptions['storeOutage'];
  /**
   * Where it counts its requests (`opledger.operations.queued`) and which trace each request
   * carries to the worker that runs it (see `EngineOptions.telemetry`).
   */
  telemetry?: EngineOptions['telemetry'];
}

/**
 * What a client does: writes requests and cancels, reads and follows operations. It never
 * runs a step; workers (`createWorker`) run what it requests.
 */
export interface Client<D extends AnyOperationDefinition = AnyOperationDefinition> {
  /** Writes the request for any worker with its definition to claim; resolves once written. */
  start(request: OperationRequestFor<D>): Promise<OperationHandle>;
  start<T extends string>(
    request: Omit<OperationRequest, 'type'> & { type: T & NoInfer<RuntimeType<T>> },
  ): Promise<OperationHandle>;
  cancel(id: string, options: { user: string }): Promise<CancelOutcome>;
  /** Reopens a failed rollback; the operation's worker (or one that takes it over) runs it. */
  continueRollback(id: string, options?: { skip?: readonly string[] }): Promise<OperationHandle>;
  logs(id: string, options?: { actor?: unknown }): Observable<LogLine>;
  getOperation(id: string): Promise<OperationView>;
  /** Resolves when the operation has ended, from its events, whoever runs it. */
  result(id: string): Promise<OperationResult>;
}

/** What the engine and the client share: reads, follows and cancels go through the store. */
export interface ClientCore {
  decode: Decode;
  now: () => string;
  follow(id: string): Observable<LogLine>;
  logs(id: string, options?: { actor?: unknown }): Observable<LogLine>;
  /** The result of an operation, from the store (the engine first asks its own runs). */
  followResult(id: string): Promise<OperationResult>;
  handle(id: string, result: Promise<OperationResult>): OperationHandle;
  cancel(id: string, options: { user: string }): Promise<CancelOutcome>;
  getOperation(id: string): Promise<OperationView>;
}

export const createClientCore = (options: {
  store: EventStore;
  clock?: Clock;
  upcasters?: readonly Upcaster[];
  authorize?: Authorize;
}): ClientCore => {
  const { store } = options;
  const clock = options.clock ?? systemClock;
  const decode = createEventDecoder(options.upcasters);
  const authorize = options.authorize ?? allowAll;
  const now = isoNow(clock);

  const follow = (id: string): Observable<LogLine> =>
    followOperation(store, decode, id).pipe(
      map(({ event, revision, state }) => toLogLine(state.id || id, revision, event)),
      filter((line): line is LogLine => line !== undefined),
    );

  const followResult = (id: string): Promise<OperationResult> =>
    lastValueFrom(followOperation(store, decode, id)).then((c) => toOperationResult(c.state));

  return {
    decode,
    now,
    follow,
    followResult,
    logs: (id, { actor } = {}) =>
      defer(async () => {
        const { state } = await loadOperation(store, decode, id);
        if (state.status === 'none') throw new OperationNotFoundError(id);
        await ensureAllowed(authorize, actor, 'operation:follow', {
          environment: state.environment,
          operationId: id,
          resource: state.resource,
        });
      }).pipe(concatMap(() => follow(id))),
    // The caller that started or reattached to the operation may follow it.
    handle: (id, result) => ({ id, logs: follow(id), result: quiet(result) }),
    cancel: async (id, { user }) => {
      if (!user) throw new InvalidRequestError('cancel needs the user who asks for it');
      const loaded = await loadOperation(store, decode, id);
      const writer = createOperationWriter(store, decode, id, loaded);
      const events = await writer.execute({
        type: 'RequestCancellation',
        data: { user, at: now() },
      });
      return {
        id,
        status: toOperationView(writer.state()).status,
        alreadyRequested: events.length === 0,
      };
    },
    getOperation: async (id) => {
      const { state } = await loadOperation(store, decode, id);
      if (state.status === 'none') throw new OperationNotFoundError(id);
      return toOperationView(state);
    },
  };
};

/** The definitions by type; two of one type are refused. */
export const definitionsByType = (
  operations: readonly AnyOperationDefinition[],
): Map<string, OperationDefinition> => {
  const definitions = new Map<string, OperationDefinition>();
  for (const def of operations) {
    if (definitions.has(def.type)) {
      throw new InvalidRequestError(`two definitions register operation type '${def.type}'`);
    }
    definitions.set(def.type, def as OperationDefinition);
  }
  return definitions;
};

/**
 * A client of a store shared with workers: it requests, cancels and follows operations, and
 * never runs a step (Temporal's client and worker apart). The dashboard and the CLI's read and
 * cancel commands use one.
 *
 * @example
 * ```ts
 * const client = createClient({ store: await createStore(url), operations: [deploy] });
 * const { id, result } = await client.start({ type: 'deploy', environment, resource, user, params });
 * console.log((await result).status); // run by whichever worker claimed it
 * ```
 */
export const createClient = <D extends AnyOperationDefinition = AnyOperationDefinition>(
  options: ClientOptions<D>,
): Client<D> => {
  // Its calls ride out store outages, as an engine's do (see store-outage.ts).
  const telemetry = createTelemetry(options.telemetry);
  const riding = withStoreOutageRetry(options.store, options.storeOutage);
  const store = withTelemetry(riding, telemetry, 'client', createEventDecoder(options.upcasters));
  const core = createClientCore({ ...options, store });
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? createTimeOrderedIds(clock);
  const definitions = definitionsByType(options.operations ?? []);
  const placing = new Set<string>();

  const start = async (raw: OperationRequest): Promise<OperationHandle> => {
    const requested = await requestOperation(
      {
        store,
        admitStore: riding,
        decode: core.decode,
        definitions,
        upcasters: options.upcasters ?? [],
        ids,
        now: core.now,
        placing,
        ...(telemetry ? { traceMetadata: telemetry.traceMetadata } : {}),
      },
      raw,
      { dispatch: 'worker' },
    );
    const id = requested.kind === 'new' ? requested.writer.id : requested.id;
    return core.handle(id, core.followResult(id));
  };

  return {
    start: start as Client<D>['start'],
    cancel: core.cancel,
    continueRollback: async (id, { skip = [] } = {}) => {
      const loaded = await loadOperation(store, core.decode, id);
      const writer = createOperationWriter(store, core.decode, id, loaded);
      await writer.execute({ type: 'ContinueRollback', data: { skip, at: core.now() } });
      return core.handle(id, core.followResult(id));
    },
    logs: core.logs,
    getOperation: core.getOperation,
    result: core.followResult,
  };
};
