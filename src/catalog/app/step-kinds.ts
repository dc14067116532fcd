import { step, type JsonRun, type StepDraft } from '../../domain/operation-definition.js';
import type { StepContext } from '../../domain/step.js';
import type { Resolved } from './app-options.js';

/** Step kinds and policies shared by the App operations. */
export const undoable = <P, O>(
  r: Resolved,
  spec: {
    name: string;
    run: (ctx: StepContext<P>) => Promise<O>;
    undo: Parameters<typeof step<P, O>>[0]['undo'];
    /** Leaves the step out of the plan for params it does not apply to (see `step`). */
    when?: ((params: P) => boolean) | undefined;
  } & JsonRun<P, O>,
): StepDraft<P, O> =>
  step<P, O>({
    name: spec.name,
    run: spec.run,
    undo: spec.undo,
    ...(spec.when ? { when: spec.when } : {}),
    kind: 'undoable',
    retry: r.retry,
    undoRetry: {
      ...r.undoRetry,
      nonRetryable: [...(r.undoRetry.nonRetryable ?? []), 'RestoreImpossibleError'],
    },
  });

export const noSideEffects = <P, O>(
  r: Resolved,
  spec: {
    name: string;
    run: (ctx: StepContext<P>) => Promise<O>;
    alternatives?: string[];
  } & JsonRun<P, O>,
): StepDraft<P, O> => step<P, O>({ ...spec, kind: 'no_side_effects', retry: r.retry });
