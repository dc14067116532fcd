export { createEngine } from './engine/engine.js';
export type {
  CancelOutcome,
  Engine,
  EngineOptions,
  OperationHandle,
  OperationRequest,
} from './engine/engine.js';
export type { OperationResult, OperationView } from './engine/operation-result.js';
export { systemClock, type Clock } from './engine/clock.js';
export { createTimeOrderedIds } from './engine/ids.js';
export { createInMemoryEventStore } from './adapters/memory/in-memory-event-store.js';
export { defineOperation, step } from './domain/operation-definition.js';
export type {
  OperationDefinition,
  OperationSpec,
  StepSpec,
} from './domain/operation-definition.js';
export type { Step, StepContext, UndoContext, StepKind } from './domain/step.js';
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
  SubscribeOptions,
} from './domain/event-store.js';
export type {
  DomainEvent,
  OperationEvent,
  ErrorInfo,
  NotUndone,
  ResourceRef,
} from './domain/events.js';
export { eventSchemas, eventVersions } from './domain/events.js';
export { createEventDecoder, encodeEvent, type Upcaster } from './domain/event-codec.js';
export { decide, type OperationCommand } from './domain/decide.js';
export {
  evolve,
  initialState,
  foldOperation,
  hasEnded,
  type OperationState,
} from './domain/operation.js';
export { pendingRollback, notUndone, stepsWithSideEffects } from './domain/rollback-plan.js';
export { operationStreamName } from './engine/operation-stream.js';
export * from './domain/errors.js';
