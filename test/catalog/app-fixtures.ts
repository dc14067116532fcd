import { firstValueFrom, toArray } from 'rxjs';
import {
  createSimulatedCloud,
  type SimulatedCloud,
} from '../../src/adapters/infrastructure/index.js';
import { appDeploy, appRestart, appScale } from '../../src/catalog/app/index.js';
import type { Clock } from '../../src/engine/clock.js';
import {
  createEngine,
  createInMemoryEventStore,
  type Engine,
  type LogLine,
} from '../../src/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';

export const APP = 'web';
export const OLD_IMAGE = 'web:v1';
export const NEW_IMAGE = 'web:v2';

export interface AppWorld {
  cloud: SimulatedCloud;
  engine: Engine;
  clock: Clock & { now(): Date };
  /** Cancels the next started operation once virtual time reaches `at` (ms from now). */
  cancelAfter(ms: number): void;
  start(
    type: string,
    params: Record<string, unknown>,
  ): Promise<{
    id: string;
    result: Promise<import('../../src/index.js').OperationResult>;
    logs: Promise<LogLine[]>;
  }>;
  oldIds: string[];
}

/** An app `web` serving `web:v1` with `count` containers behind endpoint `web`. */
export const appWorld = async (seed: number, count = 2): Promise<AppWorld> => {
  const base = createVirtualClock();
  let cancelAt: number | null = null;
  let current: string | null = null;
  let engine: Engine | null = null;
  const clock: Clock = {
    now: () => base.now(),
    sleep: async (ms, signal) => {
      await base.sleep(ms, signal);
      if (cancelAt !== null && current && base.now().getTime() >= cancelAt) {
        cancelAt = null;
        void engine?.cancel(current, { user: 'ada@example.com' }).catch(() => undefined);
      }
    },
  };
  const cloud = createSimulatedCloud({ seed, clock });
  await cloud.compute.ensureInstance({ instanceId: `${APP}-host` });
  await cloud.containers.pullImage({
    instanceId: `${APP}-host`,
    image: OLD_IMAGE,
    registry: 'docker-hub',
  });
  await cloud.loadBalancer.createEndpoint({ endpointId: APP });
  const oldIds = Array.from({ length: count }, (_, i) => `${APP}-v1-${i + 1}`);
  for (const id of oldIds) {
    await cloud.containers.startContainer({
      containerId: id,
      instanceId: `${APP}-host`,
      image: OLD_IMAGE,
      env: { RAILS_ENV: 'production' },
    });
    await cloud.loadBalancer.registerTarget({ endpointId: APP, containerId: id });
  }
  engine = createEngine({
    store: createInMemoryEventStore(),
    operations: [appDeploy(cloud), appRestart(cloud), appScale(cloud)],
    clock,
    ids: createSequentialIds('op-'),
  });
  const e = engine;
  return {
    cloud,
    engine: e,
    clock,
    oldIds,
    cancelAfter: (ms) => {
      cancelAt = base.now().getTime() + ms;
    },
    start: async (type, params) => {
      const handle = await e.start({
        type,
        environment: 'production',
        resource: { type: 'app', handle: APP },
        user: 'ada@example.com',
        params: { app: APP, ...params },
      });
      current = handle.id;
      return {
        id: handle.id,
        result: handle.result,
        logs: firstValueFrom(handle.logs.pipe(toArray())),
      };
    },
  };
};

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
