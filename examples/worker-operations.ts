// The operations module of examples/workers.ts: what `opledger worker --operations` loads.
// A worker process imports it; a client imports it too, to validate and plan its requests.

// #region operations
import { defineOperation, step } from 'opledger';

/** A stand-in for a system that keeps the highest fencing token it has seen per operation. */
const releases = new Map<string, { fence: number; image: string }>();
const record = (operationId: string, fence: number, image: string) => {
  const seen = releases.get(operationId);
  // A stale worker (paused past its lease, then woken up) carries an older token: refused.
  if (seen && seen.fence > fence) throw new Error(`stale writer: fence ${fence} < ${seen.fence}`);
  releases.set(operationId, { fence, image });
};

const wait = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)));
  });

export const deploy = defineOperation<{ image: string }>({
  type: 'deploy',
  steps: [
    step({ name: 'pull image', kind: 'no_side_effects', run: ({ signal }) => wait(20, signal) }),
    step({
      name: 'release',
      run: ({ operationId, fence, params }) => {
        record(operationId, fence, params.image);
        return { image: params.image };
      },
      undo: ({ operationId }) => void releases.delete(operationId),
    }),
  ],
});

export default [deploy];
// #endregion operations
