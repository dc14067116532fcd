// The delivery metrics (DORA keys) of an environment, from its operation events. Run it with
// `npx tsx examples/delivery-metrics.ts` (after `npm run build`). A virtual clock makes the
// times exact: a deploy that fails at 10:10 and one that succeeds at 10:32 restore in 22 min.
import {
  createEngine,
  createInMemoryEventStore,
  createInMemoryReadStore,
  defineOperation,
  step,
} from 'opledger';
import { createVirtualClock } from 'opledger/testing';

const clock = createVirtualClock('2026-03-02T09:00:00.000Z');
const store = createInMemoryEventStore();
const readStore = createInMemoryReadStore();
const deploy = defineOperation<{ minutes: number; fail?: boolean }>({
  type: 'app.deploy',
  steps: [
    step({
      name: 'health check',
      kind: 'no_side_effects',
      run: ({ params }) => {
        clock.advance(params.minutes * 60_000);
        if (params.fail) throw Object.assign(new Error('unhealthy'), { code: 'E_HEALTH' });
      },
    }),
  ],
});
const engine = createEngine({ store, clock, operations: [deploy] });
const run = async (params: { minutes: number; fail?: boolean }) =>
  (
    await engine.start({
      type: 'app.deploy',
      environment: 'production',
      resource: { type: 'app', handle: 'web' },
      user: 'ada@example.com',
      params,
    })
  ).result;
await run({ minutes: 4 }); // 09:00 -> 09:04
clock.advance(56 * 60_000);
await run({ minutes: 10, fail: true }); // 10:00 -> 10:10, failed
clock.advance(20 * 60_000);
await run({ minutes: 2 }); // 10:30 -> 10:32: restored

// #region metrics
import { createDeliveryMetrics } from 'opledger/projections';

const delivery = createDeliveryMetrics({ store, readStore });
await delivery.projection.catchUp(); // or start(): catch-up, then live
const week = await delivery.metrics({
  environment: 'production',
  app: 'web', // optional: one app
  from: '2026-03-02',
  to: '2026-03-09',
});
console.log(`deploys per week: ${week.deploymentFrequency.perWeek}`);
console.log(`change failure rate: ${week.changeFailureRate.rate}`);
console.log(`time to restore (p50): ${week.timeToRestore.p50Ms! / 60_000} min`);
console.log(`lead time p95: ${week.leadTime['app.deploy']!.p95Ms! / 60_000} min`);
console.log(`failures by code: ${JSON.stringify(week.failureCauses.byErrorCode)}`);
// #endregion metrics
