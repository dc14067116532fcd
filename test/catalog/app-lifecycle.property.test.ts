import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CloudService } from '../../src/adapters/infrastructure/index.js';
import { APP, lifecycleWorld, servingRelease, type RunningApp } from './app-lifecycle-fixtures.js';

// Object storage too: it keeps the key that seals the recorded environments.
const services: CloudService[] = [
  'compute',
  'load-balancer',
  'object-storage',
  'registry:docker-hub',
  'registry:quay',
];

const faultPlan = fc.record({
  outages: fc.array(
    fc.record({
      service: fc.constantFrom(...services),
      fromS: fc.integer({ min: 0, max: 300 }),
      lengthS: fc.integer({ min: 1, max: 300 }),
    }),
    { maxLength: 3 },
  ),
  errorRates: fc.array(
    fc.record({
      service: fc.constantFrom(...services),
      rate: fc.double({ min: 0, max: 0.3, noNaN: true }),
    }),
    { maxLength: 2 },
  ),
  cancelAtS: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  count: fc.integer({ min: 1, max: 3 }),
});

type Plan = typeof faultPlan extends fc.Arbitrary<infer T> ? T : never;

const prepare = async (plan: Plan, running: RunningApp) => {
  const w = await lifecycleWorld(plan.seed, running);
  const t0 = w.clock.now().getTime();
  for (const o of plan.outages) {
    w.cloud.faults.outage(o.service, {
      from: t0 + o.fromS * 1000,
      to: t0 + (o.fromS + o.lengthS) * 1000,
    });
  }
  for (const e of plan.errorRates) w.cloud.faults.errorRate(e.service, e.rate);
  if (plan.cancelAtS !== undefined) w.cancelAfter(plan.cancelAtS * 1000);
  return w;
};

const RUNS = { numRuns: 200 };
const OLD_SECRET = 'old-s3cr3t-5b1e';
const NEW_SECRET = 'new-s3cr3t-c07a';

describe('appConfigure and appRollback under any fault and any cancel time', () => {
  it('appConfigure: zero downtime; the app runs the old env or the new one, never a mix; no secret recorded', async () => {
    const oldEnv = { RAILS_ENV: 'production', DB_PASSWORD: OLD_SECRET };
    const newEnv = { DB_PASSWORD: NEW_SECRET, FEATURE_X: 'on' };
    await fc.assert(
      fc.asyncProperty(faultPlan, async (plan) => {
        const w = await prepare(plan, { count: plan.count, image: 'web:v1', env: oldEnv });
        const op = await w.start('app.configure', {
          set: { DB_PASSWORD: NEW_SECRET, FEATURE_X: 'on' },
          unset: ['RAILS_ENV'],
          sensitive: ['DB_PASSWORD'],
          healthCheckTimeoutSeconds: 20,
        });
        const result = await op.result;
        w.cloud.faults.clear();
        expect(w.cloud.downtime().endpoints[APP]).toBe(0);
        const s = servingRelease(w.cloud);
        expect(s.running).toBe(true);
        const newIds = Array.from({ length: plan.count }, (_, i) => `${APP}-${op.id}-${i + 1}`);
        if (result.status === 'succeeded') {
          expect(s.targets).toEqual(newIds.sort());
          expect(s.releases).toEqual([{ image: 'web:v1', env: newEnv }]);
        } else {
          expect(result.rollback).toBe('succeeded');
          expect(s.targets).toEqual(w.oldIds);
          expect(s.releases).toEqual([{ image: 'web:v1', env: oldEnv }]);
        }
        // Nothing else is left running or stopped on the instance.
        expect(Object.keys(w.cloud.snapshot().containers).sort()).toEqual(s.targets);
        const events = await w.eventsJson();
        expect(events).not.toContain(OLD_SECRET);
        expect(events).not.toContain(NEW_SECRET);
      }),
      RUNS,
    );
  });

  it('appRollback: zero downtime; the app serves the current release or the previous one, never a mix', async () => {
    const env = { RAILS_ENV: 'production', API_KEY: OLD_SECRET };
    await fc.assert(
      fc.asyncProperty(faultPlan, fc.boolean(), async (plan, unhealthy) => {
        const w = await prepare(plan, {
          count: plan.count,
          image: 'web:v2',
          env,
          pulled: ['web:v1'],
        });
        if (unhealthy) w.cloud.setImageBehaviour('web:v1', { responds: false });
        const op = await w.start('app.rollback', {
          previousImage: 'web:v1',
          healthCheckTimeoutSeconds: 20,
        });
        const result = await op.result;
        w.cloud.faults.clear();
        expect(w.cloud.downtime().endpoints[APP]).toBe(0);
        const s = servingRelease(w.cloud);
        expect(s.running).toBe(true);
        if (unhealthy) expect(result.status).toBe('failed');
        if (result.status === 'succeeded') {
          // As many containers as the release it replaced.
          const newIds = Array.from({ length: plan.count }, (_, i) => `${APP}-${op.id}-${i + 1}`);
          expect(s.targets).toEqual(newIds.sort());
          expect(s.releases).toEqual([{ image: 'web:v1', env }]);
        } else {
          expect(result.rollback).toBe('succeeded');
          expect(s.targets).toEqual(w.oldIds);
          expect(s.releases).toEqual([{ image: 'web:v2', env }]);
        }
        expect(Object.keys(w.cloud.snapshot().containers).sort()).toEqual(s.targets);
        expect(await w.eventsJson()).not.toContain(OLD_SECRET);
      }),
      RUNS,
    );
  });
});
