import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CloudService } from '../../src/adapters/infrastructure/index.js';
import { applyCloudFaultPlan, cloudFaultPlanArbitrary } from '../../src/testing/index.js';
import { APP, NEW_IMAGE, OLD_IMAGE, appWorld, serving } from './app-fixtures.js';

const services: CloudService[] = [
  'compute',
  'load-balancer',
  'registry:docker-hub',
  'registry:quay',
];

const faultPlan = fc.record({
  // Whole seconds: outages start in the first 300 s and last up to 300 s; a crash of the one-off
  // before_release instance, at a virtual time in the first 200 s.
  cloud: cloudFaultPlanArbitrary({
    services,
    stepMs: 1_000,
    horizonMs: 300_000,
    maxOutages: 3,
    minOutageMs: 1_000,
    maxOutageMs: 300_000,
    maxErrorRates: 2,
    maxErrorRate: 0.3,
    crashes: { atTime: [`${APP}-release-runner`], horizonMs: 200_000 },
  }),
  cancelAtS: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  unhealthy: fc.boolean(),
});

type Plan = typeof faultPlan extends fc.Arbitrary<infer T> ? T : never;

const prepare = async (plan: Plan, count: number) => {
  const w = await appWorld(plan.seed, count);
  applyCloudFaultPlan(w.cloud, plan.cloud);
  if (plan.cancelAtS !== undefined) w.cancelAfter(plan.cancelAtS * 1000);
  return w;
};

const RUNS = { numRuns: 200 };

describe('App operations under any fault and any cancel time', () => {
  it('appDeploy: zero endpoint downtime, and the app serves the old or the new release, never a mix', async () => {
    await fc.assert(
      fc.asyncProperty(faultPlan, fc.integer({ min: 1, max: 3 }), async (plan, count) => {
        const w = await prepare(plan, 2);
        if (plan.unhealthy) w.cloud.setImageBehaviour(NEW_IMAGE, { responds: false });
        const op = await w.start('app.deploy', {
          image: NEW_IMAGE,
          containerCount: count,
          beforeRelease: ['rake db:migrate'],
          healthCheckTimeoutSeconds: 20,
        });
        const result = await op.result;
        w.cloud.faults.clear();
        expect(w.cloud.downtime().endpoints[APP]).toBe(0);
        const s = serving(w.cloud);
        expect(s.running).toBe(true);
        const newIds = Array.from({ length: count }, (_, i) => `${APP}-${op.id}-${i + 1}`);
        if (result.status === 'succeeded') {
          expect(s.targets).toEqual(newIds.sort());
          expect(s.images).toEqual([NEW_IMAGE]);
        } else {
          expect(s.targets).toEqual(w.oldIds);
          expect(s.images).toEqual([OLD_IMAGE]);
        }
      }),
      RUNS,
    );
  });

  it('appRestart: zero endpoint downtime, old containers or all replacements, never a mix', async () => {
    await fc.assert(
      fc.asyncProperty(faultPlan, async (plan) => {
        const w = await prepare(plan, 2);
        const op = await w.start('app.restart', { healthCheckTimeoutSeconds: 20 });
        const result = await op.result;
        expect(w.cloud.downtime().endpoints[APP]).toBe(0);
        const s = serving(w.cloud);
        expect(s.running).toBe(true);
        expect(s.images).toEqual([OLD_IMAGE]);
        expect(s.targets).toEqual(
          result.status === 'succeeded' ? [`${APP}-${op.id}-1`, `${APP}-${op.id}-2`] : w.oldIds,
        );
      }),
      RUNS,
    );
  });

  it('appScale: zero endpoint downtime, the old count or the new count, never between', async () => {
    await fc.assert(
      fc.asyncProperty(
        faultPlan,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        async (plan, from, to) => {
          const w = await prepare(plan, from);
          const op = await w.start('app.scale', {
            containerCount: to,
            healthCheckTimeoutSeconds: 20,
          });
          const result = await op.result;
          expect(w.cloud.downtime().endpoints[APP]).toBe(0);
          const s = serving(w.cloud);
          expect(s.running).toBe(true);
          expect(s.images).toEqual([OLD_IMAGE]);
          const added = Array.from(
            { length: Math.max(0, to - from) },
            (_, i) => `${APP}-${op.id}-${i + 1}`,
          );
          const scaled = to >= from ? [...w.oldIds, ...added].sort() : w.oldIds.slice(0, to);
          expect(s.targets).toEqual(result.status === 'succeeded' ? scaled : w.oldIds);
        },
      ),
      RUNS,
    );
  });
});
