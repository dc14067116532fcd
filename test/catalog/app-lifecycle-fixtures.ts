import { firstValueFrom, toArray } from 'rxjs';
import {
  createSimulatedCloud,
  type SimulatedCloud,
} from '../../src/adapters/infrastructure/index.js';
import {
  appConfigure,
  appDeploy,
  appDeprovision,
  appProvision,
  appRestart,
  appRollback,
  appScale,
} from '../../src/catalog/app/index.js';
import type { Clock } from '../../src/engine/clock.js';
import {
  createEngine,
  createInMemoryEventStore,
  type Engine,
  type EventStore,
  type LogLine,
  type OperationResult,
} from '../../src/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';

export const APP = 'web';
export const HOST = `${APP}-host`;

/** Every App operation of the catalog, on one cloud. */
export const appOperations = (cloud: SimulatedCloud) => [
  appProvision(cloud),
  appDeploy(cloud),
  appConfigure(cloud),
  appRestart(cloud),
  appScale(cloud),
  appRollback(cloud),
  appDeprovision(cloud),
];

export interface Started {
  id: string;
  result: Promise<OperationResult>;
  logs: Promise<LogLine[]>;
}

export interface LifecycleWorld {
  cloud: SimulatedCloud;
  store: EventStore;
  engine: Engine;
  clock: Clock;
  /** Cancels the next started operation once virtual time reaches now + `ms`. */
  cancelAfter(ms: number): void;
  start(type: string, params: Record<string, unknown>): Promise<Started>;
  run(type: string, params: Record<string, unknown>): Promise<OperationResult>;
  /** Every event of the store, as JSON: what anyone reading the store could see. */
  eventsJson(): Promise<string>;
}

export interface RunningApp {
  count: number;
  image: string;
  env: Record<string, string>;
  /** Images pulled onto the host besides `image` (earlier releases). */
  pulled?: string[];
}

/**
 * A cloud with, unless `running` is undefined, an app `web` whose `count` containers
 * `web-v1-<n>` run `image` with `env` behind endpoint `web` on instance `web-host`.
 */
export const lifecycleWorld = async (
  seed: number,
  running?: RunningApp,
  options: { store?: EventStore } = {},
): Promise<LifecycleWorld & { oldIds: string[] }> => {
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
  const oldIds: string[] = [];
  if (running) {
    await cloud.compute.ensureInstance({ instanceId: HOST });
    for (const image of [running.image, ...(running.pulled ?? [])]) {
      await cloud.containers.pullImage({ instanceId: HOST, image, registry: 'docker-hub' });
    }
    await cloud.loadBalancer.createEndpoint({ endpointId: APP });
    for (let n = 1; n <= running.count; n++) {
      const id = `${APP}-v1-${n}`;
      oldIds.push(id);
      await cloud.containers.startContainer({
        containerId: id,
        instanceId: HOST,
        image: running.image,
        env: running.env,
      });
      await cloud.loadBalancer.registerTarget({ endpointId: APP, containerId: id });
    }
  }
  const store = options.store ?? createInMemoryEventStore();
  engine = createEngine({
    store,
    operations: appOperations(cloud),
    clock,
    ids: createSequentialIds('op-'),
  });
  const e = engine;
  const start = async (type: string, params: Record<string, unknown>): Promise<Started> => {
    const handle = await e.start({
      type,
      environment: 'production',
      resource: { type: 'app', handle: APP },
      user: 'ada@example.com',
      params: { app: APP, ...params },
    });
    current = handle.id;
    const logs = firstValueFrom(handle.logs.pipe(toArray()));
    // A test that kills "the process" never reads these: no unhandled rejection then.
    logs.catch(() => undefined);
    handle.result.catch(() => undefined);
    return { id: handle.id, result: handle.result, logs };
  };
  return {
    cloud,
    store,
    engine: e,
    clock,
    oldIds,
    cancelAfter: (ms) => {
      cancelAt = base.now().getTime() + ms;
    },
    start,
    run: async (type, params) => (await start(type, params)).result,
    eventsJson: async () =>
      JSON.stringify(await store.readAll(), (_key, value: unknown) =>
        typeof value === 'bigint' ? value.toString() : value,
      ),
  };
};

/** What the endpoint serves: its targets, and the distinct (image, env) of their containers. */
export const servingRelease = (cloud: SimulatedCloud) => {
  const snap = cloud.snapshot();
  const targets = [...(snap.endpoints[APP]?.targets ?? [])].sort();
  const releases = new Map<string, { image: string; env: Record<string, string> }>();
  for (const t of targets) {
    const c = snap.containers[t];
    if (!c) continue;
    releases.set(JSON.stringify([c.image, c.env]), { image: c.image, env: c.env });
  }
  return {
    targets,
    releases: [...releases.values()],
    running: targets.every((t) => snap.containers[t]?.state === 'running'),
  };
};
