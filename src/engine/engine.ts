import { EngineClosedError } from '../domain/errors.js';
import { createEventDecoder } from '../domain/event-codec.js';
import { systemClock } from './clock.js';
import { createClientCore, definitionsByType, quiet } from './client.js';
import { createTimeOrderedIds } from './ids.js';
import { toOperationResult, type OperationResult } from './operation-result.js';
import { loadOperation } from './operation-stream.js';
import { createOperationWriter, type OperationWriter } from './operation-writer.js';
import { recoverOperations } from './recover.js';
import { recordOutageInOperationLog } from './outage-log.js';
import { withStoreOutageRetry } from './store-outage.js';
import { requestOperation } from './request-operation.js';
import { createTelemetry } from './telemetry/telemetry.js';
import { withTelemetry } from './telemetry/with-telemetry.js';
import { StreamWatch } from './cancel-watch.js';
import { driveOperation } from './run-operation.js';
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

/**
 * An engine running the given operations; its `start` is typed from them (see `Engine`). A
 * client and a runner in one process: it runs what it starts itself, until it ends. For
 * replicas that may die at any moment, run workers (`createWorker`) beside clients instead:
 * their operations are taken over automatically.
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
  // Every call the engine makes rides out store outages (see store-outage.ts).
  const telemetry = createTelemetry(options.telemetry);
  const riding = withStoreOutageRetry(options.store, {
    ...options.storeOutage,
    recordOutage: recordOutageInOperationLog,
  });
  const store = withTelemetry(riding, telemetry, 'engine', createEventDecoder(options.upcasters));
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? createTimeOrderedIds(clock);
  const core = createClientCore({ ...options, store });
  const { decode, now } = core;
  const definitions = definitionsByType(options.operations);
  const running = new Map<string, Promise<OperationResult>>();
  /** Operations whose start() has taken their place and not yet launched them. */
  const placing = new Set<string>();
  let closed = false;
  const streams = new StreamWatch(store);

  const launch = (
    writer: OperationWriter,
    params: Record<string, unknown>,
    mode: 'fresh' | 'recover',
  ): Promise<OperationResult> => {
    const existing = running.get(writer.id);
    if (existing) return existing;
    const definition = definitions.get(writer.state().type);
    const result = quiet(
      driveOperation({ store, decode, clock, streams }, { writer, definition, params, mode })
        .then(toOperationResult)
        .finally(() => running.delete(writer.id)),
    );
    running.set(writer.id, result);
    return result;
  };

  const result = (id: string): Promise<OperationResult> => running.get(id) ?? core.followResult(id);

  const start = async (raw: OperationRequest): Promise<OperationHandle> => {
    if (closed) throw new EngineClosedError();
    const requested = await requestOperation(
      {
        store,
        admitStore: riding,
        decode,
        definitions,
        upcasters: options.upcasters ?? [],
        ids,
        now,
        placing,
        ...(telemetry ? { traceMetadata: telemetry.traceMetadata } : {}),
      },
      raw,
    );
    if (requested.kind === 'existing') return core.handle(requested.id, result(requested.id));
    const { writer, params } = requested;
    try {
      return core.handle(writer.id, launch(writer, params, 'fresh'));
    } finally {
      placing.delete(writer.id);
    }
  };

  const loadWriter = async (id: string) => {
    const loaded = await loadOperation(store, decode, id);
    return createOperationWriter(store, decode, id, loaded);
  };

  return {
    start,
    cancel: core.cancel,
    continueRollback: async (id, { skip = [] } = {}) => {
      if (closed) throw new EngineClosedError();
      const writer = await loadWriter(id);
      await writer.execute({ type: 'ContinueRollback', data: { skip, at: now() } });
      return core.handle(id, launch(writer, writer.state().params, 'recover'));
    },
    logs: core.logs,
    result,
    recover: async ({ operationIds } = {}) => {
      if (closed) throw new EngineClosedError();
      return recoverOperations(
        { store, decode, now, running, placing, loadWriter, launch },
        operationIds,
      );
    },
    getOperation: core.getOperation,
    shutdown: async () => {
      closed = true;
      await Promise.allSettled([...running.values()]);
      streams.close();
    },
  };
};
