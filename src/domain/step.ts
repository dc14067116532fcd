import type { StepKind } from './events.js';
import type { LogLevel } from './log-lines.js';
import type { RetryPolicy } from './retry-policy.js';

export type { StepKind };

/** A JSON value as the engine records a step's output. */
export type Json =
  string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

/**
 * `O` itself when a step may return it: JSON data as the engine checks it at run time (see
 * step-attempt.ts), so a function, a bigint, a class instance with methods (a `Date`, a `Map`)
 * or `undefined` in an array is refused when the step is written rather than when it runs.
 * Interfaces are checked field by field, so they need no index signature. `undefined` as a
 * field or as the whole output is accepted, as at run time. `unknown` and `any` pass: an
 * output the caller chose not to type is checked at run time only. The run-time check stays
 * the authority (NaN, or a class instance without methods, cannot be told apart by type).
 */
export type JsonOutput<O> = unknown extends O
  ? O
  : O extends string | number | boolean | null | undefined | void
    ? O
    : O extends bigint | symbol | ((...args: never[]) => unknown)
      ? never
      : O extends readonly unknown[]
        ? { [K in keyof O]: JsonElement<O[K]> }
        : O extends object
          ? { [K in keyof O]: JsonOutput<O[K]> }
          : never;

/** An array element: the run-time check refuses `undefined` there (JSON would write null). */
type JsonElement<T> = T extends undefined | void ? never : JsonOutput<T>;

export interface StepLog {
  (message: string, level?: LogLevel): void;
}

/** What a step's `run` receives. */
export interface StepContext<P = Record<string, unknown>> {
  operationId: string;
  params: P;
  /** Aborted when the Operation is cancelled while this step runs. */
  signal: AbortSignal;
  log: StepLog;
  /** 1-based attempt with the current provider. */
  attempt: number;
  /** The provider of `alternatives` in use, undefined for a step without alternatives. */
  provider: string | undefined;
  /** Outputs of the steps that completed before this one, by step name. */
  outputs: Readonly<Record<string, unknown>>;
  /**
   * Says the run is still making progress: resets the step's `heartbeatTimeoutMs`. `details`
   * (JSON data, such as how far it got) are kept in memory, recorded in StepFailed if the
   * attempt fails, and handed to the next attempt as `heartbeatDetails`, so a retry can resume
   * instead of starting over. Cheap: nothing is written per heartbeat. Details that are not JSON
   * data throw `InvalidHeartbeatDetailsError` here; a heartbeat after the attempt ended (a run
   * that kept going past its timeout) is ignored.
   *
   * @example
   * ```ts
   * run: async ({ heartbeat, heartbeatDetails, signal }) => {
   *   const from = (heartbeatDetails as { copied?: number } | undefined)?.copied ?? 0;
   *   for (let i = from; i < files.length; i++) {
   *     await copy(files[i], { signal });
   *     heartbeat({ copied: i + 1 });
   *   }
   * }
   * ```
   */
  heartbeat: (details?: unknown) => void;
  /**
   * The details of the last heartbeat recorded for this step with this provider by an earlier
   * attempt that failed (a retry's view of how far the previous one got); undefined on the
   * first attempt, after a failover, or when no earlier attempt gave details.
   */
  heartbeatDetails: unknown;
  /**
   * The fencing token of the worker running this attempt: it grows with every change of owner
   * (0 for an operation an engine runs itself). Hand it to systems that can refuse a writer
   * older than one they have seen, so a paused worker that wakes after its successor started
   * cannot change anything.
   */
  fence: number;
}

/** What a step's `undo` receives: the run's output and whether the run is known to have finished. */
export interface UndoContext<P = Record<string, unknown>, O = unknown> {
  operationId: string;
  params: P;
  /** 'unknown' after a crash: the run may or may not have happened, so the undo must be idempotent. */
  outcome: 'succeeded' | 'unknown';
  /** The run's output; undefined when the outcome is unknown. */
  output: O | undefined;
  /**
   * The recorded outputs of the operation's steps that succeeded, by step name: what the run
   * read in its own `outputs`. With them an undo whose outcome is unknown can often still work
   * out what its run did.
   */
  outputs: Readonly<Record<string, unknown>>;
  provider: string | undefined;
  log: StepLog;
  attempt: number;
  /**
   * Not aborted by a cancel or a shutdown: a rollback cannot be interrupted. Aborted only when
   * this worker lost the operation to another (whose rollback redoes this undo).
   */
  signal: AbortSignal;
  /** The fencing token of the worker running this undo (see `StepContext.fence`). */
  fence: number;
}

/**
 * A step of an Operation. `run` returns what `undo` needs (recorded in StepSucceeded, so it must
 * be JSON data). A run that throws is taken as not done: it must not leave partial changes.
 */
export interface Step<P = Record<string, unknown>, O = unknown> {
  name: string;
  kind: StepKind;
  run: (ctx: StepContext<P>) => Promise<O> | O;
  undo?: (ctx: UndoContext<P, O>) => Promise<void> | void;
  retry: RetryPolicy;
  /** Retry policy of the undo; the run's policy when omitted. */
  undoRetry: RetryPolicy;
  /** Failover providers tried in turn, the first being the primary (registry A down: pull from B). */
  alternatives?: readonly string[];
  /** When false, a cancel waits for the step to finish instead of aborting its signal. */
  interruptible: boolean;
  /**
   * Longest an attempt of the run may take (Temporal's `startToCloseTimeout`), in ms: past it
   * the attempt fails with `StepTimeoutError`. None when undefined.
   */
  timeoutMs?: number;
  /**
   * Longest the run may go without calling `ctx.heartbeat()` (Temporal's `heartbeatTimeout`),
   * in ms, counted from the attempt's start: past it the attempt fails with `StepTimeoutError`.
   */
  heartbeatTimeoutMs?: number;
  /**
   * Whether the step applies to these params (all steps do by default). A step that does not
   * apply is left out of the operation's plan: it neither runs nor appears in the rollback.
   */
  when?: (params: P) => boolean;
}
