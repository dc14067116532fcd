import { z } from 'zod';
import { ownKeyRecord } from './own-key-record.js';

/**
 * The events of an Operation's stream (`operation-<id>`). Every event type has a schema and a
 * version; the codec validates each event against them when it is written and when it is read,
 * so a malformed event is caught at the boundary instead of corrupting a fold.
 */

const timestamp = z.iso.datetime({ offset: false });
const stepName = z.string().min(1);
const attempt = z.number().int().min(1);

export const stepKindSchema = z.enum(['undoable', 'irreversible', 'no_side_effects']);
export type StepKind = z.infer<typeof stepKindSchema>;

export const resourceRefSchema = z.object({
  type: z.string().min(1),
  handle: z.string().min(1),
});
export type ResourceRef = z.infer<typeof resourceRefSchema>;

/** An error as recorded in events: the message and every cause beneath it, outermost first. */
export const errorInfoSchema = z.object({
  name: z.string(),
  message: z.string(),
  code: z.string().optional(),
  causes: z.array(z.string()),
});
export type ErrorInfo = z.infer<typeof errorInfoSchema>;

export const lifecycleSchema = z.enum(['provision', 'deprovision']);
export type Lifecycle = z.infer<typeof lifecycleSchema>;

export const rollbackReasonSchema = z.enum([
  'failure',
  'cancellation',
  'recovery',
  'worker_lost',
  'continue',
]);
export type RollbackReason = z.infer<typeof rollbackReasonSchema>;

/** `worker_lost`: the worker running it stopped renewing its lease, and another took it over. */
export const failureReasonSchema = z.enum(['failure', 'cancellation', 'recovery', 'worker_lost']);
export type FailureReason = z.infer<typeof failureReasonSchema>;

export const notUndoneSchema = z.object({
  step: stepName,
  reason: z.enum(['irreversible', 'undo_failed', 'skipped']),
  error: z.string().optional(),
});
export type NotUndone = z.infer<typeof notUndoneSchema>;

export const operationEventSchemas = {
  OperationRequested: z.object({
    operationId: z.string().min(1),
    type: z.string().min(1),
    environment: z.string().min(1),
    resource: resourceRefSchema,
    user: z.string().min(1),
    params: ownKeyRecord(z.string(), z.unknown()),
    createdAt: timestamp,
    idempotencyKey: z.string().min(1).optional(),
    steps: z.array(z.object({ name: stepName, kind: stepKindSchema })).min(1),
    /** What the operation will do to its resource if it succeeds (from its definition). */
    lifecycle: lifecycleSchema.optional(),
    /**
     * 'worker': written by a client for any worker to claim. Absent: run by the engine that
     * wrote it (an operation no worker may take, as it cannot tell whether that engine lives).
     */
    dispatch: z.literal('worker').optional(),
  }),
  /** A worker took a queued operation: from here on only appends carrying its fence count. */
  OperationClaimed: z.object({
    worker: z.string().min(1),
    lease: z.string().min(1),
    fence: z.number().int().min(1),
    at: timestamp,
  }),
  /**
   * A worker took the operation of a worker whose lease ended, at the revision it read: the
   * old owner's next append conflicts, and it finds that it lost the operation.
   */
  OperationTakenOver: z.object({
    from: z.object({ worker: z.string().min(1), lease: z.string().min(1) }),
    worker: z.string().min(1),
    lease: z.string().min(1),
    fence: z.number().int().min(2),
    reason: z.enum(['lease_expired', 'lease_released']),
    /** When the old lease ended, on the store's clock. */
    leaseEndedAt: timestamp,
    at: timestamp,
  }),
  OperationStarted: z.object({ at: timestamp }),
  StepStarted: z.object({
    step: stepName,
    attempt,
    provider: z.string().optional(),
    at: timestamp,
  }),
  LogWritten: z.object({
    step: stepName.optional(),
    level: z.enum(['info', 'warn', 'error']),
    message: z.string(),
    at: timestamp,
  }),
  StepSucceeded: z.object({
    step: stepName,
    attempt,
    provider: z.string().optional(),
    output: z.unknown().optional(),
    at: timestamp,
  }),
  StepFailed: z.object({
    step: stepName,
    attempt,
    provider: z.string().optional(),
    error: errorInfoSchema,
    willRetry: z.boolean(),
    retryInMs: z.number().int().min(0).optional(),
    failoverTo: z.string().optional(),
    cancelled: z.boolean().optional(),
    /** The run finished but its result could not be recorded: rollback must undo it. */
    possiblyDone: z.boolean().optional(),
    /** The details of the attempt's last `ctx.heartbeat()`, for the next attempt (JSON data). */
    heartbeat: z.unknown().optional(),
    at: timestamp,
  }),
  CancellationRequested: z.object({ user: z.string().min(1), at: timestamp }),
  OperationFailed: z.object({
    reason: failureReasonSchema,
    failedStep: stepName.optional(),
    error: errorInfoSchema,
    rollbackRequired: z.boolean(),
    at: timestamp,
  }),
  RollbackStarted: z.object({
    reason: rollbackReasonSchema,
    plan: z.array(stepName),
    skip: z.array(stepName).optional(),
    at: timestamp,
  }),
  StepUndoStarted: z.object({
    step: stepName,
    attempt,
    outcome: z.enum(['succeeded', 'unknown']),
    at: timestamp,
  }),
  StepUndone: z.object({ step: stepName, attempt, at: timestamp }),
  StepUndoFailed: z.object({
    step: stepName,
    attempt,
    error: errorInfoSchema,
    willRetry: z.boolean(),
    retryInMs: z.number().int().min(0).optional(),
    at: timestamp,
  }),
  StepNotUndoable: z.object({
    step: stepName,
    reason: z.enum(['irreversible', 'skipped']),
    at: timestamp,
  }),
  RollbackFinished: z.object({
    outcome: z.enum(['succeeded', 'failed']),
    notUndone: z.array(notUndoneSchema),
    at: timestamp,
  }),
  OperationSucceeded: z.object({
    at: timestamp,
    /** What the operation did to its resource, for projections: created it, deleted it, released. */
    effects: z
      .object({
        lifecycle: lifecycleSchema.optional(),
        release: z.string().min(1).optional(),
      })
      .optional(),
  }),
} as const;

/**
 * Events of a resource's stream: the queue that serialises Operations on one resource across
 * every engine sharing a store (optimistic concurrency on this stream is the lock).
 * ResourceOperationQueued is a request's place, written before the operation's own events: the
 * order of these in the stream is the request order.
 */
export const resourceEventSchemas = {
  ResourceOperationQueued: z.object({ operationId: z.string().min(1), at: timestamp }),
  ResourceOperationStarted: z.object({ operationId: z.string().min(1), at: timestamp }),
  ResourceOperationFinished: z.object({ operationId: z.string().min(1), at: timestamp }),
  /**
   * The queue's state folded up to revision `upTo` of the resource's stream, written to the
   * stream beside it (`snapshot-resource-...`, see resourceSnapshotStreamName) so that a
   * process reads the last snapshot and the events after it instead of the whole history.
   * Revisions and positions are decimal strings: they are bigints in the store.
   */
  ResourceQueueSnapshotted: z.object({
    upTo: z.string().regex(/^\d+$/),
    position: z.string().regex(/^\d+$/),
    waiting: z.array(z.string().min(1)),
    holder: z.string().min(1).optional(),
    at: timestamp,
  }),
} as const;

/**
 * A worker's lease, on its own stream (`worker-<lease>`): renewed by appends at the revision the
 * worker last wrote, so a takeover (`WorkerLeaseExpired`, appended at the revision the taker
 * read) makes the late renewal of a paused worker fail. Expiry is judged by the store's
 * `recordedAt` of the last renewal against the store's clock, never a worker's own clock.
 */
export const workerEventSchemas = {
  WorkerLeaseAcquired: z.object({
    lease: z.string().min(1),
    worker: z.string().min(1),
    host: z.string(),
    pid: z.number().int(),
    ttlMs: z.number().int().min(1),
    renewEveryMs: z.number().int().min(1),
    concurrency: z.number().int().min(1),
    operations: z.array(z.string()),
    at: timestamp,
  }),
  WorkerLeaseRenewed: z.object({ holding: z.array(z.string()), at: timestamp }),
  /** The worker stopped on purpose, holding nothing (or what its shutdown grace left). */
  WorkerLeaseReleased: z.object({ holding: z.array(z.string()), at: timestamp }),
  /** Written by the worker that found the lease past its time to live. */
  WorkerLeaseExpired: z.object({
    by: z.string().min(1),
    lastRenewedAt: timestamp,
    at: timestamp,
  }),
  /** On the `workers` stream: where `opledger workers` finds every lease. */
  WorkerRegistered: z.object({
    lease: z.string().min(1),
    worker: z.string().min(1),
    at: timestamp,
  }),
} as const;

/** Claim of an idempotency key: the first writer wins through `expectedVersion: 'no_stream'`. */
export const idempotencyEventSchemas = {
  IdempotencyKeyClaimed: z.object({
    key: z.string().min(1),
    operationId: z.string().min(1),
    at: timestamp,
  }),
} as const;

export const eventSchemas = {
  ...operationEventSchemas,
  ...resourceEventSchemas,
  ...idempotencyEventSchemas,
  ...workerEventSchemas,
} as const;

/** Current schema version of every event type; bump it with an upcaster for the old one. */
export const eventVersions: Record<EventType, number> = {
  ...(Object.fromEntries(Object.keys(eventSchemas).map((type) => [type, 1])) as Record<
    EventType,
    number
  >),
  // v2: the resource is one object (see builtInUpcasters).
  OperationRequested: 2,
};

type Schemas = typeof eventSchemas;
export type EventType = keyof Schemas;
export type EventOf<T extends EventType> = { type: T; data: z.infer<Schemas[T]> };
export type DomainEvent = { [T in EventType]: EventOf<T> }[EventType];

export type OperationEventType = keyof typeof operationEventSchemas;
export type OperationEvent = { [T in OperationEventType]: EventOf<T> }[OperationEventType];
export type ResourceEvent = {
  [T in keyof typeof resourceEventSchemas]: EventOf<T>;
}[keyof typeof resourceEventSchemas];
export type IdempotencyEvent = EventOf<'IdempotencyKeyClaimed'>;
export type WorkerEvent = {
  [T in keyof typeof workerEventSchemas]: EventOf<T>;
}[keyof typeof workerEventSchemas];

// A Set, not `in` on the schemas: a rebuild asks this of every event, and `in` walks an object
// of some twenty keys and its prototype (a row of the rebuild's profile).
const operationEventTypes: ReadonlySet<string> = new Set(Object.keys(operationEventSchemas));

export const isOperationEvent = (event: DomainEvent): event is OperationEvent =>
  operationEventTypes.has(event.type);
