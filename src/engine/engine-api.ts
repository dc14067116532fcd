import type { Observable } from 'rxjs';
import type { Authorize } from '../domain/authorization.js';
import type { Upcaster } from '../domain/event-codec.js';
import type { EventStore } from '../domain/event-store.js';
import type { LogLine } from '../domain/log-lines.js';
import type { OperationDefinition } from '../domain/operation-definition.js';
import type { StandardSchemaV1 } from '../domain/standard-schema.js';
import type { Clock } from './clock.js';
import type { OperationResult, OperationView } from './operation-result.js';
import type { OperationRequest } from './operation-request.js';
import type { StoreOutageOptions } from './store-outage.js';
import type { TelemetrySetting } from './telemetry/telemetry-options.js';

// The engine's public types: what `createEngine` takes and what its engine does.

/** Any operation definition: they differ in their params types, the engine treats them alike. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOperationDefinition = OperationDefinition<any, string, any>;

/** The params a request for definition `D` gives: what its schema accepts, or its params type. */
export type RequestParams<D extends AnyOperationDefinition> =
  NonNullable<D['params']> extends StandardSchemaV1<infer I, infer P>
    ? unknown extends I
      ? P
      : I
    : Record<string, unknown>;

/**
 * A request to start one of the definitions `D`: its type by name and the params its schema
 * accepts, so a misspelled type or a wrong param is a compile error. A definition whose type is
 * only known as `string` (one built at run time, or the catalog's) takes any `OperationRequest`.
 */
export type OperationRequestFor<D extends AnyOperationDefinition> = [D] extends [never]
  ? OperationRequest
  : D extends AnyOperationDefinition
    ? string extends D['type']
      ? OperationRequest
      : Omit<OperationRequest, 'type' | 'params'> & { type: D['type'] } & (Record<
            string,
            never
          > extends RequestParams<D>
            ? { params?: RequestParams<D> }
            : { params: RequestParams<D> })
    : never;

export interface EngineOptions<D extends AnyOperationDefinition = AnyOperationDefinition> {
  store: EventStore;
  operations: readonly D[];
  clock?: Clock;
  /** Operation id generator; ids must sort by creation time. */
  ids?: () => string;
  /** Turn stored events of older versions into the current ones. */
  upcasters?: readonly Upcaster[];
  /** Consulted before `logs(id, { actor })` follows an operation; allows all by default. */
  authorize?: Authorize;
  /**
   * Riding out outages of the store (a PostgreSQL failover or restart, dropped connections, a
   * SQLite file locked past its timeout). A call that fails for such a reason is made again,
   * with backoff and jitter, for up to `maxMs` (default 60 000; 0 fails at once); the
   * operation's progress waits in memory, and its log gets one line when the store is back:
   * "the event store was unreachable for 12.4 s; went on". Past `maxMs` its `result` rejects
   * with a `StoreUnavailableError` and the operation is left, whole, for `recover()`.
   * `onOutage` hears when the store is waited for and when it is back (the CLI prints them).
   * The time is real time, whatever `clock` is.
   *
   * @example
   * ```ts
   * createEngine({ store, operations, storeOutage: { maxMs: 120_000, onOutage: console.warn } });
   * ```
   */
  storeOutage?: Pick<StoreOutageOptions, 'maxMs' | 'onOutage' | 'clock' | 'random'>;
  /**
   * OpenTelemetry traces and metrics (docs/telemetry.md): a span per operation run, a child span
   * per step attempt and per undo, and the `opledger.*` metrics. By default the global tracer
   * and meter named `opledger`, when `@opentelemetry/api` is installed (nothing is recorded
   * while no provider is registered); `false` turns it off.
   *
   * @example
   * ```ts
   * createEngine({ store, operations, telemetry: { tracer: trace.getTracer('deployer') } });
   * ```
   */
  telemetry?: TelemetrySetting;
}

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

/**
 * A request type only known at run time (typed `string`, as the CLI reads it) is taken by any
 * engine and checked when the request is made; a literal type must name one of the engine's.
 */
export type RuntimeType<T extends string> = string extends T ? string : never;

/**
 * An engine for any definitions: `start` takes any `OperationRequest`, checked at run time. A
 * `TypedEngine` (what `createEngine` returns) can be used as one.
 */
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

/**
 * The engine `createEngine` returns for the definitions `D`. `start` takes a request for one of
 * them, typed: a misspelled type, a missing or mistyped param is a compile error. A request
 * whose `type` is a plain `string` (read at run time, as by the CLI) is taken as well, and
 * checked at run time only, as every request is.
 */
export interface TypedEngine<
  D extends AnyOperationDefinition = AnyOperationDefinition,
> extends Omit<Engine, 'start'> {
  start(request: OperationRequestFor<D>): Promise<OperationHandle>;
  start<T extends string>(
    request: Omit<OperationRequest, 'type'> & { type: T & NoInfer<RuntimeType<T>> },
  ): Promise<OperationHandle>;
}
