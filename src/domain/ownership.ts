import { OperationLostError } from './errors.js';
import type { OperationState } from './operation.js';

/**
 * The fence: a writer that holds an operation under fencing count `fence` may append only
 * while the state still names that count. A takeover raises the count, so once the old owner
 * has read the takeover (its append conflicted and it read the stream again), every command it
 * tries is refused here, before anything is decided or written.
 *
 * @example
 * ```ts
 * const lost = fenceError(state, 1);
 * if (lost) throw lost; // OperationLostError: another worker owns it now
 * ```
 */
export const fenceError = (
  state: OperationState,
  fence: number | undefined,
): OperationLostError | undefined => {
  if (fence === undefined || state.owner?.fence === fence) return undefined;
  return new OperationLostError(
    state.id,
    fence,
    state.owner ? { worker: state.owner.worker, fence: state.owner.fence } : undefined,
  );
};
