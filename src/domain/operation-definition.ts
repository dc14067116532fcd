import { InvalidDefinitionError } from './errors.js';
import type { Upcaster } from './event-codec.js';
import type { EventStore } from './event-store.js';
import type { Lifecycle, ResourceRef, StepKind } from './events.js';
import { resolveRetryPolicy, validateRetryPolicy, type RetryPolicy } from './retry-policy.js';
import { ownValue } from './own-keys.js';
import type { StandardSchemaV1 } from './standard-schema.js';
import type { JsonOutput, Step, StepContext, UndoContext } from './step.js';

export interface StepSpec<P, O> {
  name: string;
  /** Defaults to 'undoable' when `undo` is given; otherwise it must be said explicitly. */
  kind?: StepKind;
  run: (ctx: StepContext<P>) => Promise<O> | O;
  undo?: (ctx: UndoContext<P, O>) => Promise<void> | void;
  retry?: Partial<RetryPolicy>;
  undoRetry?: Partial<RetryPolicy>;
  alternatives?: readonly string[];
  interruptible?: boolean;
  /**
   * Longest an attempt of `run` may take, in ms (Temporal's `startToCloseTimeout`). Past it the
   * step's `signal` is aborted with a `StepTimeoutError` and the attempt fails even if the run
   * does not stop; the retry policy then applies, then the rollback. Measured on the engine's
   * clock. Not for `undo`, which is never interrupted.
   */
  timeoutMs?: number;
  /**
   * Longest `run` may go without calling `ctx.heartbeat()`, in ms, from the attempt's start
   * (Temporal's `heartbeatTimeout`): catches a step that hangs long before its `timeoutMs`.
   * Must be shorter than `timeoutMs` when both are given, and `run` must take its context.
   */
  heartbeatTimeoutMs?: number;
  /** Leave the step out of the plan when this says false for the operation's params. */
  when?: (params: P) => boolean;
}

/**
 * A step spec whose checks wait for defineOperation, which knows the operation's name. Its
 * output type is erased from the spec (each step's undo was already typed against its own run)
 * but kept on the draft: a later step or an undo reads it with `outputs.of(draft)`, typed.
 */
export interface StepDraft<P = Record<string, unknown>, O = unknown> {
  readonly spec: StepSpec<P, unknown>;
  /** The type of the run's output, for `outputs.of`; no value at run time. */
  readonly __output?: O;
}

/**
 * Refuses, when the step is written, a run whose output is not JSON data (see `JsonOutput`):
 * the run must also be a function returning `JsonOutput<O>`, which is `O` itself for JSON data.
 * `NoInfer` keeps `O` inferred from the run's own return type only.
 */
export interface JsonRun<P, O> {
  run: (ctx: StepContext<P>) => Promise<NoInfer<JsonOutput<O>>> | NoInfer<JsonOutput<O>>;
}

/**
 * Declares a step. Its params type `P` comes from the operation it is written in (or is given),
 * its output type `O` from what `run` returns, which must be JSON data (see `JsonOutput`), and
 * `undo` gets that type as its `output`.
 *
 * TypeScript infers all type arguments or none: to give only `P` and still infer `O`, call
 * `step<P>()` first, which returns the step function for those params.
 *
 * @example
 * ```ts
 * const pull = step<{ image: string }>()({
 *   name: 'pull image',
 *   run: ({ params }) => ({ image: params.image, registry: 'quay' }),
 *   undo: ({ output }) => remove(output?.registry), // output: { image: string; registry: string } | undefined
 * });
 * ```
 */
export function step<P = Record<string, unknown>>(): <O>(
  spec: StepSpec<P, O> & JsonRun<P, O>,
) => StepDraft<P, O>;
export function step<P = Record<string, unknown>, O = unknown>(
  spec: StepSpec<P, O> & JsonRun<P, O>,
): StepDraft<P, O>;
export function step<P, O>(
  spec?: StepSpec<P, O>,
): StepDraft<P, O> | ((spec: StepSpec<P, O>) => StepDraft<P, O>) {
  const draft = (s: StepSpec<P, O>): StepDraft<P, O> => ({
    spec: s as unknown as StepSpec<P, unknown>,
  });
  return spec === undefined ? draft : draft(spec);
}

/**
 * A step named by its draft (a value, not a string), whatever its params: `outputOf` reads its
 * output, typed `O`, through it. A draft takes its params in (run, undo and when receive them),
 * so every `StepDraft<P, O>` is a `StepHandle<O>`.
 */
export type StepHandle<O> = StepDraft<never, O>;

/**
 * The recorded output of `draft`'s step among `outputs` (a run's or an undo's), typed as that
 * step's run returns it; undefined when the step has not succeeded (or was left out by `when`).
 * The step is named by its draft, a value, instead of a string and a cast.
 *
 * @example
 * ```ts
 * const start = step<P>()({ name: 'start containers', run: () => ({ ids: ['c1'] }), undo });
 * const register = step<P>()({
 *   name: 'register',
 *   run: ({ outputs }) => register(outputOf(outputs, start)?.ids ?? []), // ids: string[]
 *   kind: 'irreversible',
 * });
 * ```
 */
export const outputOf = <O>(
  outputs: Readonly<Record<string, unknown>>,
  draft: StepHandle<O>,
): O | undefined =>
  // Own keys only: the output of a step named `constructor` that has not succeeded is undefined.
  ownValue(outputs, draft.spec.name) as O | undefined;

/** What a successful operation did to its resource, as the projections need to know it. */
export interface OperationEffects<P> {
  /** 'provision' creates the resource, 'deprovision' deletes it (an environment, for resource type 'environment'). */
  lifecycle?: Lifecycle;
  /** The release the resource runs after success (e.g. the image deployed), if any. */
  release?: (ctx: { params: P; outputs: Readonly<Record<string, unknown>> }) => string | undefined;
}

/** A request as `admit` sees it: validated, with its parsed params, and nothing of it recorded. */
export interface AdmitContext<P> {
  type: string;
  environment: string;
  resource: ResourceRef;
  user: string;
  params: P;
  /** The engine's event store, to read what is recorded (an admit writes nothing). */
  store: EventStore;
  /** The engine's upcasters, to read the store's older events as the engine does. */
  upcasters: readonly Upcaster[];
}

/**
 * Decides whether a request may become an operation at all. Throwing refuses it: `engine.start`
 * rejects with that error and records nothing, so a refused request leaves no operation in the
 * environment's Activity (as the PaaS refuses to delete an environment that still has apps).
 * Checked once, when the request is made; not again when a queued operation starts.
 */
export type Admit<P> = (request: AdmitContext<P>) => Promise<void> | void;

/**
 * A checked operation. `T` is its type name and `I` what its params schema accepts (the params
 * a request gives, before defaults), so an engine given it types `start` (see `Engine`).
 */
export interface OperationDefinition<
  P = Record<string, unknown>,
  T extends string = string,
  I = unknown,
> extends OperationEffects<P> {
  type: T;
  params?: StandardSchemaV1<I, P>;
  /** Param names whose values are secrets: never written to events or logs. */
  sensitive: readonly string[];
  steps: readonly Step<P, unknown>[];
  admit?: Admit<P>;
}

export interface OperationSpec<
  P,
  T extends string = string,
  I = unknown,
> extends OperationEffects<P> {
  type: T;
  /** The params schema; `P` and the steps' params are inferred from it. */
  params?: StandardSchemaV1<I, P>;
  sensitive?: readonly string[];
  steps: readonly StepDraft<P>[];
  /** Refuses a request before anything is recorded: see `Admit`. */
  admit?: Admit<P>;
}

/**
 * The longest timer Node can set (about 24.8 days): `setTimeout` fires at once for anything
 * longer, so a longer timeout would be a timeout of zero.
 */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** What is wrong with a step's timeouts, in words; undefined when nothing is. */
const validateTimeouts = (spec: StepSpec<never, unknown>): string | undefined => {
  for (const field of ['timeoutMs', 'heartbeatTimeoutMs'] as const) {
    const value: unknown = spec[field];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      return `${field} must be a whole number of milliseconds of at least 1 (got ${String(value)})`;
    }
    if (value > MAX_TIMEOUT_MS) {
      return `${field} must be at most ${MAX_TIMEOUT_MS} ms (about 24.8 days; got ${value})`;
    }
  }
  const { timeoutMs, heartbeatTimeoutMs } = spec;
  if (heartbeatTimeoutMs === undefined) return undefined;
  if (timeoutMs !== undefined && heartbeatTimeoutMs >= timeoutMs) {
    return `heartbeatTimeoutMs (${heartbeatTimeoutMs}) must be shorter than timeoutMs (${timeoutMs}), or it could never fire first`;
  }
  // A run declared without a parameter cannot reach ctx.heartbeat(), so every attempt would
  // time out after heartbeatTimeoutMs.
  if (spec.run.length === 0) {
    return 'heartbeatTimeoutMs is set but its run takes no context, so it can never call ctx.heartbeat(): write run: (ctx) => ... and call ctx.heartbeat(), or use timeoutMs';
  }
  return undefined;
};

const compileStep = <P>(type: string, spec: StepSpec<P, unknown>): Step<P, unknown> => {
  const fail = (problem: string) => new InvalidDefinitionError(type, problem);
  if (typeof spec.name !== 'string' || spec.name.trim() === '') {
    throw fail('every step needs a non-empty name');
  }
  if (typeof spec.run !== 'function') throw fail(`step '${spec.name}' needs a run function`);
  const kind = spec.kind ?? (spec.undo ? 'undoable' : undefined);
  if (!kind) {
    throw fail(
      `step '${spec.name}' has no undo and no kind: give it an undo, or say kind 'irreversible' or 'no_side_effects'`,
    );
  }
  if (!['undoable', 'irreversible', 'no_side_effects'].includes(kind)) {
    throw fail(`step '${spec.name}' has unknown kind '${kind}'`);
  }
  if (kind === 'undoable' && typeof spec.undo !== 'function') {
    throw fail(`step '${spec.name}' is undoable but has no undo function`);
  }
  if (kind !== 'undoable' && spec.undo) {
    throw fail(
      `step '${spec.name}' is ${kind} but has an undo: make it 'undoable' or drop the undo`,
    );
  }
  const retry = resolveRetryPolicy(spec.retry);
  const undoRetry = resolveRetryPolicy(spec.undoRetry ?? spec.retry);
  const problem = validateRetryPolicy(retry) ?? validateRetryPolicy(undoRetry);
  if (problem) throw fail(`step '${spec.name}': ${problem}`);
  if (spec.alternatives !== undefined) {
    if (spec.alternatives.length === 0) {
      throw fail(`step '${spec.name}' has an empty alternatives list: omit it or name providers`);
    }
    if (new Set(spec.alternatives).size !== spec.alternatives.length) {
      throw fail(`step '${spec.name}' lists a provider twice in alternatives`);
    }
  }
  const timeouts = validateTimeouts(spec);
  if (timeouts) throw fail(`step '${spec.name}': ${timeouts}`);
  return {
    name: spec.name,
    kind,
    run: spec.run,
    retry,
    undoRetry,
    interruptible: spec.interruptible ?? true,
    ...(spec.undo ? { undo: spec.undo } : {}),
    ...(spec.alternatives ? { alternatives: [...spec.alternatives] } : {}),
    ...(spec.when ? { when: spec.when } : {}),
    ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
    ...(spec.heartbeatTimeoutMs !== undefined
      ? { heartbeatTimeoutMs: spec.heartbeatTimeoutMs }
      : {}),
  };
};

/** Validates a definition once, when it is declared, so bad ones never reach the engine. */
export const defineOperation = <
  P = Record<string, unknown>,
  T extends string = string,
  I = unknown,
>(
  spec: OperationSpec<P, T, I>,
): OperationDefinition<P, T, I> => {
  const type = typeof spec.type === 'string' ? spec.type : '';
  if (type.trim() === '')
    throw new InvalidDefinitionError('(unnamed)', 'type must be a non-empty string');
  if (!Array.isArray(spec.steps) || spec.steps.length === 0) {
    throw new InvalidDefinitionError(type, 'an operation needs at least one step');
  }
  const steps = spec.steps.map((draft) => compileStep(type, draft.spec));
  const seen = new Set<string>();
  for (const s of steps) {
    if (seen.has(s.name)) throw new InvalidDefinitionError(type, `two steps are named '${s.name}'`);
    seen.add(s.name);
  }
  if (spec.admit !== undefined && typeof spec.admit !== 'function') {
    throw new InvalidDefinitionError(type, 'admit must be a function');
  }
  if (spec.lifecycle !== undefined && !['provision', 'deprovision'].includes(spec.lifecycle)) {
    throw new InvalidDefinitionError(type, `lifecycle must be 'provision' or 'deprovision'`);
  }
  return {
    type: type as T,
    steps,
    sensitive: [...(spec.sensitive ?? [])],
    ...(spec.lifecycle ? { lifecycle: spec.lifecycle } : {}),
    ...(spec.release ? { release: spec.release } : {}),
    ...(spec.params ? { params: spec.params } : {}),
    ...(spec.admit ? { admit: spec.admit } : {}),
  };
};
