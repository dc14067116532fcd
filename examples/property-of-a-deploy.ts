// A property of the catalog's deploy, written with opledger/testing's arbitraries: whatever the
// request and whatever the cloud does, the app's endpoint never goes down and the app ends on
// one release. Run it with `npx tsx examples/property-of-a-deploy.ts` (after `npm run build`).
import { createSimulatedCloud } from 'opledger/adapters/infrastructure';
import { appProvision } from 'opledger/catalog';

// #region property
import fc from 'fast-check';
import { createEngine, createInMemoryEventStore } from 'opledger';
import { appDeploy } from 'opledger/catalog';
import {
  applyCloudFaultPlan,
  cloudFaultPlanArbitrary,
  createVirtualClock,
  operationRequestArbitrary,
} from 'opledger/testing';

const requests = operationRequestArbitrary(
  {
    'app.deploy': fc.record({
      app: fc.constant('web'),
      image: fc.constantFrom('web:v2', 'web:v3'),
      containerCount: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { environments: ['production'], handles: ['web'] },
);
const faults = cloudFaultPlanArbitrary({
  services: ['load-balancer', 'registry:docker-hub', 'registry:quay'],
});

await fc.assert(
  fc.asyncProperty(requests, faults, async (request, plan) => {
    const clock = createVirtualClock();
    const cloud = createSimulatedCloud({ seed: 1, clock });
    const store = createInMemoryEventStore();
    const engine = createEngine({
      store,
      operations: [appProvision(cloud), appDeploy(cloud)],
      clock,
    });
    const run = async (r: typeof request) => (await engine.start(r)).result;
    // The app serving web:v1 first, without faults; then the generated deploy, with them.
    const app = { environment: request.environment, resource: request.resource, user: 'ci' };
    await run({ ...app, type: 'app.provision', params: { app: 'web' } });
    await run({ ...app, type: 'app.deploy', params: { app: 'web', image: 'web:v1' } });
    const before = cloud.downtime().endpoints.web ?? 0;

    applyCloudFaultPlan(cloud, plan);
    await (
      await engine.start(request)
    ).result;

    const { endpoints, containers } = cloud.snapshot();
    const images = new Set(endpoints.web?.targets.map((id) => containers[id]?.image));
    return cloud.downtime().endpoints.web === before && images.size === 1;
  }),
  { numRuns: 50 },
);
console.log('deploy: zero downtime and one release in 50 runs');
// #endregion property
