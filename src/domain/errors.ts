/**
 * Every error opledger raises carries a stable `code` (for programs) and a message that says
 * what was wrong and what to do next (for people). Classes are used only here, so that
 * `instanceof` and `error.code` both work for callers.
 */
export class OpledgerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class InvalidDefinitionError extends OpledgerError {
  constructor(operationType: string, problem: string) {
    super('INVALID_DEFINITION', `Operation definition '${operationType}' is invalid: ${problem}.`);
  }
}

export class UnknownOperationTypeError extends OpledgerError {
  constructor(
    readonly operationType: string,
    known: readonly string[],
  ) {
    super(
      'UNKNOWN_OPERATION_TYPE',
      `Unknown operation type '${operationType}'. Register it with defineOperation() in createEngine({ operations }); known types: ${known.length ? known.join(', ') : '(none)'}.`,
    );
  }
}

export class InvalidRequestError extends OpledgerError {
  constructor(
    problem: string,
    readonly issues: readonly string[] = [],
  ) {
    super('INVALID_REQUEST', `Invalid operation request: ${problem}.`);
  }
}

export class InvalidParamsError extends OpledgerError {
  constructor(
    readonly operationType: string,
    readonly issues: readonly string[],
  ) {
    super(
      'INVALID_PARAMS',
      `Params for operation '${operationType}' do not match its schema: ${issues.join('; ')}. Fix the params and start the operation again.`,
    );
  }
}

export class OperationNotFoundError extends OpledgerError {
  constructor(readonly operationId: string) {
    super(
      'OPERATION_NOT_FOUND',
      `Operation ${operationId} does not exist in this store. Check the id, or the store the engine points at.`,
    );
  }
}

/**
 * The operation's events are in the store, but its environment was deprovisioned since, and the
 * read models dropped its records with the environment's: its log, listing and report rows are
 * gone from them, not from the events.
 */
export class OperationPurgedError extends OpledgerError {
  constructor(
    readonly operationId: string,
    readonly environment: string,
    readonly deprovisionedAt: string | undefined,
  ) {
    super(
      'OPERATION_PURGED',
      `Operation ${operationId} belonged to environment '${environment}', which was deprovisioned${deprovisionedAt ? ` at ${deprovisionedAt}` : ''}: its records (log, listing, Activity Report rows) were purged from the read models with the environment's. Its events are still in the event store (stream 'operation-${operationId}'), and an Activity Report exported before the deprovision keeps its row.`,
    );
  }
}

export class OperationEndedError extends OpledgerError {
  constructor(
    readonly operationId: string,
    readonly status: string,
  ) {
    super(
      'OPERATION_ENDED',
      `Operation ${operationId} has already ended (${status}); there is nothing left to cancel. Read its log to see what happened.`,
    );
  }
}

export class OperationCancelledError extends OpledgerError {
  constructor(readonly operationId: string) {
    super('OPERATION_CANCELLED', `Operation ${operationId} was cancelled.`);
  }
}

/** Which of a step's timeouts fired: `timeoutMs` (the whole attempt) or `heartbeatTimeoutMs`. */
export type StepTimeoutKind = 'start_to_close' | 'heartbeat';

/**
 * An attempt of a step ran past its `timeoutMs`, or went `heartbeatTimeoutMs` without a
 * `ctx.heartbeat()`: the step's signal is aborted with this error and the attempt fails, whether
 * or not the run stops. It is retried by the step's retry policy like any error (list
 * `STEP_TIMEOUT` in `nonRetryable` to fail at once), then the operation rolls back.
 */
export class StepTimeoutError extends OpledgerError {
  constructor(
    readonly step: string,
    readonly timeout: StepTimeoutKind,
    readonly ms: number,
  ) {
    super(
      'STEP_TIMEOUT',
      timeout === 'start_to_close'
        ? `Step '${step}' timed out: its attempt ran for ${ms} ms, its timeoutMs. Make the step faster, raise timeoutMs, or retry it.`
        : `Step '${step}' timed out: no heartbeat for ${ms} ms, its heartbeatTimeoutMs. Call ctx.heartbeat() more often than that while the step makes progress.`,
    );
  }
}

export class RollbackNotFailedError extends OpledgerError {
  constructor(
    readonly operationId: string,
    readonly rollback: string,
  ) {
    super(
      'ROLLBACK_NOT_FAILED',
      `Operation ${operationId} has rollback '${rollback}': only a failed rollback can be continued.`,
    );
  }
}

export class UnknownStepError extends OpledgerError {
  constructor(
    readonly operationId: string,
    readonly step: string,
  ) {
    super(
      'UNKNOWN_STEP',
      `Operation ${operationId} has no step '${step}' that could not be undone; check the names listed in its rollback result.`,
    );
  }
}

/** A command that the current state of an Operation does not allow (a bug in a caller). */
export class InvalidTransitionError extends OpledgerError {
  constructor(
    readonly operationId: string,
    command: string,
    reason: string,
  ) {
    super('INVALID_TRANSITION', `Operation ${operationId} cannot ${command}: ${reason}.`);
  }
}

export class IdempotencyKeyReusedError extends OpledgerError {
  constructor(
    readonly idempotencyKey: string,
    readonly operationId: string,
  ) {
    super(
      'IDEMPOTENCY_KEY_REUSED',
      `Idempotency key '${idempotencyKey}' already belongs to operation ${operationId}, which was requested with a different type or resource. Use a new key for a different request.`,
    );
  }
}

export class ConcurrencyError extends OpledgerError {
  constructor(
    readonly stream: string,
    readonly expected: string,
    readonly actual: bigint,
  ) {
    super(
      'CONCURRENCY_CONFLICT',
      `Stream '${stream}' was expected at ${expected} but is at revision ${actual}: another writer appended first. Read the stream again and retry.`,
    );
  }
}

/**
 * What is wrong with a stored event, for what to do about it:
 * - `damaged`: the row itself (data or metadata not JSON, no valid version or timestamp);
 * - `unknown_type`: no event type of this code has its name;
 * - `schema_mismatch`: its data does not fit its type's schema (or does not belong in its stream);
 * - `old_version`: an older version that no upcaster turns into the current one;
 * - `newer_version`: written by a newer opledger than this one.
 */
export type StoredEventProblem =
  'damaged' | 'unknown_type' | 'schema_mismatch' | 'old_version' | 'newer_version';

const STORED_EVENT_ADVICE: Record<StoredEventProblem, string> = {
  damaged:
    'Repair the stored row; meanwhile the read models stop before it, unless an operator records a skip of it (Projector.skip, `opledger projections:skip`)',
  unknown_type:
    'If a newer opledger wrote it, upgrade; otherwise repair the stored event, or record a skip of it for the read models (Projector.skip, `opledger projections:skip`)',
  schema_mismatch:
    'Repair its data (or the upcaster that produced it), or record a skip of it for the read models (Projector.skip, `opledger projections:skip`)',
  old_version:
    'Register an upcaster from that version (createEngine and createProjector take `upcasters`)',
  newer_version: 'Upgrade opledger to read this store',
};

export class StoredEventError extends OpledgerError {
  /**
   * @param problem what is wrong, in words
   * @param kind what kind of wrong, for the advice; by default `unknown_type` for
   *   UNKNOWN_EVENT_TYPE and `damaged` otherwise (what stores find)
   */
  constructor(
    code: 'UNKNOWN_EVENT_TYPE' | 'INVALID_STORED_EVENT',
    readonly stream: string,
    readonly position: bigint,
    readonly revision: bigint,
    problem: string,
    readonly kind: StoredEventProblem = code === 'UNKNOWN_EVENT_TYPE' ? 'unknown_type' : 'damaged',
  ) {
    super(
      code,
      `Stored event at position ${position} (stream '${stream}', revision ${revision}) cannot be read: ${problem}. ${STORED_EVENT_ADVICE[kind]}.`,
    );
  }
}

/** A skip asked for where the read models are not stopped: only the event they stop at is skipped. */
export class SkipRefusedError extends OpledgerError {
  constructor(
    readonly position: bigint,
    readonly stoppedAt: bigint | undefined,
  ) {
    super(
      'SKIP_REFUSED',
      stoppedAt === undefined
        ? `Nothing to skip at position ${position}: the read models read every event up to the head of the store. Only the event they stop at can be skipped.`
        : `The read models stop at position ${stoppedAt}, not ${position}: only the event they stop at can be skipped. Read its error, then skip position ${stoppedAt} if it cannot be repaired.`,
    );
  }
}

export class InvalidEventError extends OpledgerError {
  constructor(type: string, problem: string) {
    super('INVALID_EVENT', `Refusing to write event '${type}': ${problem}.`);
  }
}

export class StoreClosedError extends OpledgerError {
  constructor() {
    super('STORE_CLOSED', 'The event store is closed; create a new one to go on.');
  }
}

export class EngineClosedError extends OpledgerError {
  constructor() {
    super(
      'ENGINE_CLOSED',
      'The engine is shutting down and accepts no new operations; create a new engine.',
    );
  }
}

export class EnvironmentNotFoundError extends OpledgerError {
  constructor(readonly environment: string) {
    super(
      'ENVIRONMENT_NOT_FOUND',
      `Environment '${environment}' does not exist or has been deprovisioned: its activity reports and operations are available only for its lifetime.`,
    );
  }
}

/** Says nothing about the target: a denied actor learns neither its existence nor its state. */
export class AccessDeniedError extends OpledgerError {
  /**
   * @param action what was asked, as `authorize` saw it (e.g. `operations:list`)
   * @param phrase the same for a person, after "you may not" (e.g. "list the operations of
   *   this environment"); the action itself when absent
   */
  constructor(
    readonly action: string,
    phrase: string = action,
  ) {
    super(
      'ACCESS_DENIED',
      `Access denied: you may not ${phrase}. Ask an administrator for access.`,
    );
  }
}

export class InvalidStoreUrlError extends OpledgerError {
  constructor(
    readonly url: string,
    problem: string,
  ) {
    super(
      'INVALID_STORE_URL',
      `Store URL '${url}' ${problem}. Accepted forms: memory: | sqlite:PATH (e.g. sqlite:.opledger/opledger.db) | postgres://USER@HOST:PORT/DB | esdb://HOST:PORT?tls=false | kurrentdb://HOST:PORT?tls=false.`,
    );
  }
}

/**
 * An optional peer dependency that the part of opledger in use needs is not installed. Store
 * drivers (better-sqlite3, pg, the EventStoreDB clients) report `DRIVER_MISSING`; fast-check,
 * which `opledger/testing` is built on, reports `TEST_DEPENDENCY_MISSING`. The message names the
 * package to `npm install`.
 */
export class PeerDependencyMissingError extends OpledgerError {
  constructor(
    readonly packageName: string,
    neededFor: string,
    options: {
      code?: 'DRIVER_MISSING' | 'TEST_DEPENDENCY_MISSING';
      version?: string;
      cause?: unknown;
    } = {},
  ) {
    const spec = options.version ? `${packageName}@${options.version}` : packageName;
    super(
      options.code ?? 'DRIVER_MISSING',
      `${neededFor} needs the optional peer dependency '${packageName}', which is not installed: run \`npm install ${spec}\` in your project.`,
      { cause: options.cause },
    );
  }
}

/**
 * This process's worker no longer owns the operation: another worker took it over after this
 * one's lease ended (it was paused, partitioned or too slow to renew). It must stop at once and
 * write nothing more: its successor is rolling the operation back or resuming it.
 */
export class OperationLostError extends OpledgerError {
  constructor(
    readonly operationId: string,
    readonly fence: number,
    /** Who owns it now; 'lease_lost' when this worker lost its lease before anyone took it. */
    readonly owner: { worker: string; fence: number } | 'lease_lost' | undefined,
  ) {
    super(
      'OPERATION_LOST',
      `Operation ${operationId} is no longer this worker's (fence ${fence}): ${owner === 'lease_lost' ? "this worker's lease was lost, and another worker will take it over" : owner ? `worker ${owner.worker} took it over with fence ${owner.fence}` : 'it has no owner'}. This worker stops running it and writes nothing more.`,
    );
  }
}

/** A worker's lease ended before it could renew it: every operation it held is aborted. */
export class LeaseLostError extends OpledgerError {
  constructor(
    readonly lease: string,
    reason: string,
  ) {
    super('LEASE_LOST', `Worker lease ${lease} was lost: ${reason}.`);
  }
}

/**
 * A worker found an operation it could take over whose type it has no definition for: it
 * leaves it for a worker that has one rather than roll it back blindly.
 */
export class MissingDefinitionError extends OpledgerError {
  constructor(
    readonly operationId: string,
    readonly operationType: string,
    known: readonly string[],
  ) {
    super(
      'MISSING_DEFINITION',
      `Operation ${operationId} is of type '${operationType}', which this worker has no definition for (it has: ${known.join(', ') || 'none'}); left for a worker that has it.`,
    );
  }
}
