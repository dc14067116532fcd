// Every name opledger gives to what it records through OpenTelemetry, in one place: the spans,
// their attributes and events, and the metrics. docs/telemetry.md documents each of them; a
// dashboard or an alert built on one of these names breaks if it changes, so they change here
// only, and the docs' tables are tested against this file.

/** The instrumentation scope of the tracer and meter opledger takes from the global providers. */
export const INSTRUMENTATION_SCOPE = 'opledger';

export const ATTR = {
  operationId: 'opledger.operation.id',
  type: 'opledger.operation.type',
  environment: 'opledger.environment',
  resource: 'opledger.resource',
  resourceType: 'opledger.resource.type',
  step: 'opledger.step',
  attempt: 'opledger.attempt',
  provider: 'opledger.provider',
  outcome: 'opledger.outcome',
  rollback: 'opledger.rollback',
  reason: 'opledger.reason',
  willRetry: 'opledger.will_retry',
  failoverTo: 'opledger.failover.to',
  errorCode: 'opledger.error.code',
  logLevel: 'opledger.log.level',
  logMessage: 'opledger.log.message',
  user: 'opledger.user',
  worker: 'opledger.worker',
  resumed: 'opledger.resumed',
} as const;

export const SPAN = {
  /** `opledger <type>`: one run of an operation in one process, to its end or its loss. */
  operation: (type: string) => `opledger ${type}`,
  step: (step: string) => `step ${step}`,
  undo: (step: string) => `undo ${step}`,
} as const;

/**
 * The span event of each operation event that is neither a step attempt nor an undo (those are
 * spans of their own) nor a log line, on the operation's span: one span event per event.
 */
export const SPAN_EVENT = {
  OperationClaimed: 'opledger.claimed',
  OperationTakenOver: 'opledger.taken_over',
  OperationStarted: 'opledger.started',
  CancellationRequested: 'opledger.cancellation',
  OperationFailed: 'opledger.failed',
  RollbackStarted: 'opledger.rollback.started',
  StepNotUndoable: 'opledger.not_undone',
  RollbackFinished: 'opledger.rollback.finished',
  OperationSucceeded: 'opledger.succeeded',
} as const;

/** Besides the failed attempt's span: the operation's span says where the step went next. */
export const FAILOVER_EVENT = 'opledger.failover';
/** A log line of the operation, on its step's span (or the operation's), unless turned off. */
export const LOG_EVENT = 'log';

export const METRIC = {
  started: 'opledger.operations.started',
  ended: 'opledger.operations.ended',
  duration: 'opledger.operation.duration',
  queueWait: 'opledger.operation.queue_wait',
  running: 'opledger.operations.running',
  queued: 'opledger.operations.queued',
  retried: 'opledger.steps.retried',
  failedOver: 'opledger.steps.failed_over',
  undosFailed: 'opledger.undos.failed',
  leases: 'opledger.worker.leases',
  takeovers: 'opledger.worker.takeovers',
} as const;

/** Where a trace context travels in an event's metadata (W3C Trace Context header names). */
export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';
