import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  APP,
  NEW_IMAGE,
  OLD_IMAGE,
  RUNNER,
  appFaultPlan,
  appWorldUnder,
  serving,
} from './app-fixtures.js';

// A crash of the one-off before_release instance, at a virtual time in the first 200 s.
const faultPlan = appFaultPlan({ atTime: [RUNNER], horizonMs: 200_000 });

const RUNS = { numRuns: 200 };

describe('App operations under any fault and any cancel time', () => {
  it('appDeploy: zero endpoint downtime, and the app serves the old or the new release, never a mix', async () => {
    await fc.assert(
      fc.asyncProperty(faultPlan, fc.integer({ min: 1, max: 3 }), async (plan, count) => {
        const w = await appWorldUnder(plan, 2);
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
        const w = await appWorldUnder(plan, 2);
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
          const w = await appWorldUnder(plan, from);
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
