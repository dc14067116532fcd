import { InvalidDefinitionError } from './errors.js';
import type { Upcaster } from './event-codec.js';
import type { EventStore } from './event-store.js';
import type { Lifecycle, ResourceRef, StepKind } from './events.js';
import { resolveRetryPolicy, validateRetryPolicy, type RetryPolicy } from './retry-policy.js';
import type { StandardSchemaV1 } from './standard-schema.js';
import type { Step, StepContext, UndoContext } from './step.js';

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
  /** Leave the step out of the plan when this says false for the operation's params. */
  when?: (params: P) => boolean;
}

/**
 * A step spec whose checks wait for defineOperation, which knows the operation's name. Its
 * output type is erased here: each step's undo was already typed against its own run.
 */
export interface StepDraft<P = Record<string, unknown>> {
  readonly spec: StepSpec<P, unknown>;
}

export const step = <P = Record<string, unknown>, O = unknown>(
  spec: StepSpec<P, O>,
): StepDraft<P> => ({ spec: spec as unknown as StepSpec<P, unknown> });

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

export interface OperationDefinition<P = Record<string, unknown>> extends OperationEffects<P> {
  type: string;
  params?: StandardSchemaV1<unknown, P>;
  /** Param names whose values are secrets: never written to events or logs. */
  sensitive: readonly string[];
  steps: readonly Step<P, unknown>[];
  admit?: Admit<P>;
}

export interface OperationSpec<P> extends OperationEffects<P> {
  type: string;
  params?: StandardSchemaV1<unknown, P>;
  sensitive?: readonly string[];
  steps: readonly StepDraft<P>[];
  /** Refuses a request before anything is recorded: see `Admit`. */
  admit?: Admit<P>;
}

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
  };
};

/** Validates a definition once, when it is declared, so bad ones never reach the engine. */
export const defineOperation = <P = Record<string, unknown>>(
  spec: OperationSpec<P>,
): OperationDefinition<P> => {
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
    type,
    steps,
    sensitive: [...(spec.sensitive ?? [])],
    ...(spec.lifecycle ? { lifecycle: spec.lifecycle } : {}),
    ...(spec.release ? { release: spec.release } : {}),
    ...(spec.params ? { params: spec.params } : {}),
    ...(spec.admit ? { admit: spec.admit } : {}),
  };
};
