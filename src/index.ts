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
export { systemClock, type Clock } from './engine/clock.js';
export { createTimeOrderedIds } from './engine/ids.js';
export { createInMemoryEventStore } from './adapters/memory/in-memory-event-store.js';
export { defineOperation, outputOf, step } from './domain/operation-definition.js';
export type {
  Admit,
  AdmitContext,
  OperationDefinition,
  OperationSpec,
  StepDraft,
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
export { createInMemoryReadStore } from './adapters/memory/in-memory-read-store.js';
export {
  createProjector,
  OPERATIONS_PROJECTION,
  type Projector,
  type ProjectorOptions,
  type SkipRequest,
} from './projections/projector.js';
export {
  createReadModel,
  renderLogLine,
  type ActivityReportSummary,
  type ListOperationsOptions,
  type OperationPage,
  type ReadModel,
  type ReadModelOptions,
  type ReadOptions,
  type CsvOptions,
  type EnvironmentView,
  type ReportRange,
  type ResourceView,
} from './projections/read-model.js';
export {
  ACTIVITY_REPORT_COLUMNS,
  neutraliseFormula,
  type ActivityReportRow,
} from './projections/activity-report.js';
export { isoWeekOf, isoWeekRange, InvalidWeekError } from './projections/iso-week.js';
export type {
  ReadStore,
  ReadModelTransaction,
  OperationRecord,
  ResourceRecord,
  EnvironmentRecord,
  OperationQuery,
  SkippedEvent,
} from './projections/read-store.js';
export type { Authorize, ReadAction, AccessTarget } from './domain/authorization.js';
export { ENVIRONMENT_RESOURCE } from './projections/project-operation-event.js';
export {
  createStore,
  DEFAULT_STORE_URL,
  type Stores,
  type CreateStoreOptions,
} from './adapters/create-store.js';
export {
  createDashboardServer,
  DEFAULT_ACTOR_HEADER,
  type DashboardOptions,
  type DashboardServer,
  type DashboardSources,
} from './dashboard/server.js';
