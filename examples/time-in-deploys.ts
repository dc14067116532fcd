// A projection of your own: the time each app spent in deploys, per month, written as plain
// mutations of an immer draft. Run it with `npx tsx examples/time-in-deploys.ts` (after
// `npm run build`). A virtual clock makes the durations exact.
import {
  createEngine,
  createInMemoryEventStore,
  createInMemoryReadStore,
  defineOperation,
  step,
} from 'opledger';
import { createProjection, defineProjection } from 'opledger/projections';
import { createVirtualClock } from 'opledger/testing';

// #region projection
interface TimeInDeploys {
  deploys: number;
  failed: number;
  /** Milliseconds from start to finish, summed over the month's finished deploys. */
  totalMs: number;
  /** Deploys started and not finished yet: operation id -> when it started. */
  running: Record<string, string>;
}

const monthOf = (iso: string) => iso.slice(0, 7); // 2026-03

export const timeInDeploys = defineProjection({
  name: 'time-in-deploys',
  version: 1,
  // One document per month, environment and app; other operations change nothing.
  keyOf: (_event, { operation }) =>
    operation?.type === 'deploy'
      ? `${monthOf(operation.requestedAt)}/${operation.environment}/${operation.resource.handle}`
      : undefined,
  initialState: { deploys: 0, failed: 0, totalMs: 0, running: {} } as TimeInDeploys,
  environmentOf: (key) => key.split('/')[1],
  on: {
    OperationStarted(draft, event, { operation }) {
      draft.deploys += 1;
      draft.running[operation!.id] = event.data.at;
    },
    OperationSucceeded(draft, event, { operation }) {
      draft.totalMs += Date.parse(event.data.at) - Date.parse(draft.running[operation!.id]!);
      delete draft.running[operation!.id];
    },
    OperationFailed(draft, event, { operation }) {
      draft.failed += 1;
      const started = draft.running[operation!.id];
      if (started) draft.totalMs += Date.parse(event.data.at) - Date.parse(started);
      delete draft.running[operation!.id];
    },
  },
});
// #endregion projection

const clock = createVirtualClock('2026-03-02T09:00:00.000Z');
const store = createInMemoryEventStore();
const deploy = defineOperation<{ image: string; minutes: number; fail?: boolean }>({
  type: 'deploy',
  steps: [
    step({
      name: 'roll out',
      kind: 'no_side_effects',
      run: ({ params }) => {
        clock.advance(params.minutes * 60_000); // the deploy takes that long
        if (params.fail) throw new Error('health check failed');
      },
    }),
  ],
});
const engine = createEngine({ store, clock, operations: [deploy] });
const run = (handle: string, params: { image: string; minutes: number; fail?: boolean }) =>
  engine.start({
    type: 'deploy',
    environment: 'production',
    resource: { type: 'app', handle },
    user: 'ada@example.com',
    params,
  });

// #region run
const readStore = createInMemoryReadStore();
const deploys = createProjection(timeInDeploys, { store, readStore });
await deploys.start(); // catch-up, then live, until deploys.stop()

await (
  await run('web', { image: 'v1', minutes: 4 })
).result;
await (
  await run('web', { image: 'v2', minutes: 6, fail: true })
).result;
await (
  await run('api', { image: 'v1', minutes: 3 })
).result;
await deploys.waitFor(await store.headPosition());
await deploys.stop();

for (const { key, state } of (await deploys.list()).items) {
  console.log(
    `${key}: ${state.deploys} deploys (${state.failed} failed), ${state.totalMs / 60_000} min`,
  );
}
// #endregion run
