/**
 * `opledger/domain`: the event-sourced model of an Operation, pure (no clock, no I/O). Its
 * events and their schemas, the codec that validates and upcasts them, the decider, the fold,
 * and the rollback plan derived from the events. For tools that read or check the events
 * themselves; a service that runs operations needs only `opledger`.
 */
export type { DomainEvent, OperationEvent, ErrorInfo, NotUndone, ResourceRef } from './events.js';
export { eventSchemas, eventVersions } from './events.js';
export { createEventDecoder, encodeEvent, type Upcaster } from './event-codec.js';
export { decide, type OperationCommand } from './decide.js';
export {
  evolve,
  initialState,
  foldOperation,
  createOperationFold,
  hasEnded,
  type OperationFold,
  type OperationState,
} from './operation.js';
export { pendingRollback, notUndone, stepsWithSideEffects } from './rollback-plan.js';
export {
  operationStreamName,
  resourceStreamName,
  idempotencyStreamName,
  leaseStreamName,
  WORKERS_STREAM,
} from './stream-names.js';
