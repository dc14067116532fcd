import type { NotUndone, StepKind } from './events.js';
import type { OperationState } from './operation.js';

export interface RollbackCandidate {
  step: string;
  kind: Exclude<StepKind, 'no_side_effects'>;
  /** 'unknown': the step started and a crash hid its outcome; its undo must be idempotent. */
  outcome: 'succeeded' | 'unknown';
  output?: unknown;
  provider?: string;
}

/**
 * Steps that may have changed the world, newest first: every completed step with side effects,
 * then (as the newest of all) a step whose outcome a crash left unknown.
 *
 * @example
 * ```ts
 * import { foldOperation, stepsWithSideEffects } from 'opledger/domain';
 *
 * stepsWithSideEffects(foldOperation(events)).map((c) => c.step); // ['register', 'start']
 * ```
 */
export const stepsWithSideEffects = (state: OperationState): RollbackCandidate[] => {
  const done = Object.values(state.steps)
    .filter((s) => s.status === 'succeeded' || s.outcomeUnknown)
    .sort((a, b) => (b.completedAs ?? Infinity) - (a.completedAs ?? Infinity));
  const candidates: RollbackCandidate[] = [];
  for (const s of done) {
    if (s.kind === 'no_side_effects') continue;
    candidates.push({
      step: s.name,
      kind: s.kind,
      outcome: s.status === 'succeeded' ? 'succeeded' : 'unknown',
      ...(s.output !== undefined ? { output: s.output } : {}),
      ...(s.provider !== undefined ? { provider: s.provider } : {}),
    });
  }
  return candidates;
};

/**
 * What the current rollback pass still has to do, newest first: undoable steps not yet undone,
 * skipped or failed in this pass, and irreversible steps not yet reported in this pass.
 * Folding the events again after a crash yields exactly the remaining work.
 *
 * @example
 * ```ts
 * import { foldOperation, pendingRollback } from 'opledger/domain';
 *
 * const [next] = pendingRollback(foldOperation(events)); // the next step to undo or report
 * ```
 */
export const pendingRollback = (state: OperationState): RollbackCandidate[] => {
  const { undone, skipped, undoFailed, reported } = state.rollback;
  return stepsWithSideEffects(state).filter((c) =>
    c.kind === 'undoable'
      ? !undone.includes(c.step) && !skipped.includes(c.step) && !Object.hasOwn(undoFailed, c.step)
      : !reported.includes(c.step),
  );
};

/**
 * The changes that stay in place after the current pass, newest first.
 *
 * @example
 * ```ts
 * import { foldOperation, notUndone } from 'opledger/domain';
 *
 * for (const n of notUndone(foldOperation(events))) console.log(n.step, n.reason);
 * ```
 */
export const notUndone = (state: OperationState): NotUndone[] => {
  const { undone, skipped, undoFailed } = state.rollback;
  const result: NotUndone[] = [];
  for (const c of stepsWithSideEffects(state)) {
    if (c.kind === 'irreversible') result.push({ step: c.step, reason: 'irreversible' });
    else if (skipped.includes(c.step)) result.push({ step: c.step, reason: 'skipped' });
    // Own keys only: a step named `toString` is not one whose undo failed.
    else if (Object.hasOwn(undoFailed, c.step)) {
      result.push({ step: c.step, reason: 'undo_failed', error: undoFailed[c.step] });
    } else if (!undone.includes(c.step)) {
      result.push({ step: c.step, reason: 'undo_failed', error: 'the undo never ran' });
    }
  }
  return result;
};

/** Whether a failed or cancelled operation has anything to roll back at all. */
export const needsRollback = (state: OperationState): boolean =>
  Object.values(state.steps).some((s) => s.kind !== 'no_side_effects');
