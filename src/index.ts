/**
 * What a service embeds: define operations and their steps, run them with an engine over a
 * store, and the typed errors. Read models and projections are in `opledger/projections`, the
 * dashboard server in `opledger/dashboard`, the event-sourced model (events, codec, decider,
 * fold, rollback plan) in `opledger/domain`.
 */
export { createEngine } from './engine/engine.js';
export type {
  CancelOutcome,
  Engine,
  EngineOptions,
  OperationHandle,
  OperationRequest,
  TypedEngine,
} from './engine/engine.js';
export type { OperationResult, OperationView } from './engine/operation-result.js';
export { createClient } from './engine/client.js';
export type { Client, ClientOptions } from './engine/client.js';
export { createWorker } from './engine/worker/worker.js';
export type { Worker, WorkerOptions, WorkerLogEntry } from './engine/worker/worker.js';
export { listWorkers, type WorkerView } from './engine/worker/list-workers.js';
export type { Clock } from './engine/clock.js';
export {
  StoreUnavailableError,
  type StoreCall,
  type StoreOutageNotice,
  type StoreOutageOptions,
} from './engine/store-outage.js';
export { createInMemoryEventStore } from './adapters/memory/in-memory-event-store.js';
export { createInMemoryReadStore } from './adapters/memory/in-memory-read-store.js';
export { defineOperation, outputOf, step } from './domain/operation-definition.js';
export type {
  Admit,
  AdmitContext,
  OperationDefinition,
  OperationSpec,
  StepDraft,
  StepHandle,
  StepSpec,
} from './domain/operation-definition.js';
export type { Json, JsonOutput, Step, StepContext, UndoContext, StepKind } from './domain/step.js';
export type { RetryPolicy } from './domain/retry-policy.js';
export type { StandardSchemaV1 } from './domain/standard-schema.js';
export type { LogLine, LogLevel } from './domain/log-lines.js';
export type {
  AppendOptions,
  AppendResult,
  EventData,
  EventStore,
  ExpectedVersion,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StoreOutageTraits,
  SubscribeOptions,
} from './domain/event-store.js';
export type {
  DomainEvent,
  OperationEvent,
  ErrorInfo,
  NotUndone,
  ResourceRef,
} from './domain/events.js';
export * from './domain/errors.js';
export type { ReadStore } from './projections/read-store.js';
export type {
  AccessAction,
  AccessTarget,
  Authorize,
  ReadAccessAction,
  ReadAction,
  WriteAccessAction,
} from './domain/authorization.js';
export {
  createStore,
  DEFAULT_STORE_URL,
  type Stores,
  type CreateStoreOptions,
} from './adapters/create-store.js';
