import fc from 'fast-check';
import type { CloudService, SimulatedCloud } from '../../src/adapters/infrastructure/index.js';
import { appDeploy, appRestart, appScale } from '../../src/catalog/app/index.js';
import {
  applyCloudFaultPlan,
  cloudFaultPlanArbitrary,
  type CloudCrashOptions,
} from '../../src/testing/index.js';
import { APP, lifecycleWorld, type LifecycleWorld } from './app-lifecycle-fixtures.js';

export { APP, HOST } from './app-lifecycle-fixtures.js';
export const OLD_IMAGE = 'web:v1';
export const NEW_IMAGE = 'web:v2';
/** The one-off instance that runs a deploy's before_release commands. */
export const RUNNER = `${APP}-release-runner`;

export type AppWorld = LifecycleWorld & { oldIds: string[] };

/**
 * An app `web` serving `web:v1` with `count` containers behind endpoint `web`, and an engine with
 * appDeploy, appRestart and appScale.
 */
export const appWorld = (seed: number, count = 2): Promise<AppWorld> =>
  lifecycleWorld(
    seed,
    { count, image: OLD_IMAGE, env: { RAILS_ENV: 'production' } },
    { operations: (cloud) => [appDeploy(cloud), appRestart(cloud), appScale(cloud)] },
  );

/** Images of the endpoint's registered targets, and the targets themselves. */
export const serving = (cloud: SimulatedCloud) => {
  const snap = cloud.snapshot();
  const targets = snap.endpoints[APP]?.targets ?? [];
  return {
    targets: [...targets].sort(),
    images: [...new Set(targets.map((t) => snap.containers[t]?.image))].sort(),
    running: targets.every((t) => snap.containers[t]?.state === 'running'),
  };
};

const services: CloudService[] = [
  'compute',
  'load-balancer',
  'registry:docker-hub',
  'registry:quay',
];

/**
 * Faults for appDeploy, appRestart and appScale, and a cancel at any time: outages (whole
 * seconds) start in the first 300 s and last up to 300 s; `crashes` names the instances that may
 * crash.
 */
export const appFaultPlan = (crashes: CloudCrashOptions) =>
  fc.record({
    cloud: cloudFaultPlanArbitrary({
      services,
      stepMs: 1_000,
      horizonMs: 300_000,
      maxOutages: 3,
      minOutageMs: 1_000,
      maxOutageMs: 300_000,
      maxErrorRates: 2,
      maxErrorRate: 0.3,
      crashes,
    }),
    cancelAtS: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    unhealthy: fc.boolean(),
  });

export type AppFaultPlan =
  ReturnType<typeof appFaultPlan> extends fc.Arbitrary<infer T> ? T : never;

/** `appWorld(plan.seed, count)` with the plan's faults installed and its cancel armed. */
export const appWorldUnder = async (plan: AppFaultPlan, count: number) => {
  const w = await appWorld(plan.seed, count);
  applyCloudFaultPlan(w.cloud, plan.cloud);
  if (plan.cancelAtS !== undefined) w.cancelAfter(plan.cancelAtS * 1000);
  return w;
};
