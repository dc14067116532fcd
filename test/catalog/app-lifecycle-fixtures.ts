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
  type EngineOptions,
  type EventData,
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

/** JSON of anything the store or the read model holds (bigints as strings). */
export const toJson = (value: unknown) =>
  JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v));

/** Starts `type` on app `web` in production, as ada: how every App test starts an operation. */
export const startOn = (engine: Engine, type: string, params: Record<string, unknown>) =>
  engine.start({
    type,
    environment: 'production',
    resource: { type: 'app', handle: APP },
    user: 'ada@example.com',
    params: { app: APP, ...params },
  });

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
 * `web-v1-<n>` run `image` with `env` behind endpoint `web` on instance `web-host`; an engine
 * with `operations` (every App operation by default) on `store` (a new in-memory one).
 */
export const lifecycleWorld = async (
  seed: number,
  running?: RunningApp,
  options: {
    store?: EventStore;
    operations?: (cloud: SimulatedCloud) => EngineOptions['operations'];
  } = {},
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
    operations: (options.operations ?? appOperations)(cloud),
    clock,
    ids: createSequentialIds('op-'),
  });
  const e = engine;
  const start = async (type: string, params: Record<string, unknown>): Promise<Started> => {
    const handle = await startOn(e, type, params);
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
    eventsJson: async () => toJson(await store.readAll()),
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

/** The cloud's state without its clock: equal when nothing was changed. */
export const withoutTime = (cloud: SimulatedCloud) => {
  const { now: _now, ...state } = cloud.snapshot();
  return state;
};

/** A store that dies (every append fails) at the first append `when` matches. */
export const dyingStore = (inner: EventStore, when: (e: EventData) => boolean): EventStore => {
  let dead = false;
  return {
    ...inner,
    append: async (stream, events, options) => {
      if (dead || events.some(when)) {
        dead = true;
        throw new Error('simulated crash: this process is gone');
      }
      return inner.append(stream, events, options);
    },
  };
};

/** Matches the event of step `name` of this type (StepStarted, StepSucceeded...). */
export const stepEvent = (type: string, name: string) => (e: EventData) =>
  e.type === type && (e.data as { step?: string }).step === name;

/** 'crashed' when the process died under the operation (its store failed), else 'ended'. */
export const crashed = (result: Promise<OperationResult>) =>
  result.then(
    () => 'ended',
    () => 'crashed',
  );

/** A new process: a new engine and a new catalog on the same store and cloud. */
export const newProcess = (
  store: EventStore,
  w: { cloud: SimulatedCloud; clock: Clock },
  idPrefix: string,
) =>
  createEngine({
    store,
    // Nothing of the dead process is needed.
    operations: appOperations(w.cloud),
    clock: w.clock,
    ids: createSequentialIds(idPrefix),
  });

/** Another process takes over the operations the dead one left unfinished. */
export const recoverOn = (store: EventStore, w: { cloud: SimulatedCloud; clock: Clock }) =>
  newProcess(store, w, 'r-').recover();

/**
 * `cloud`, but container starts fail with an error that quotes the request's env, caused by one
 * that quotes `value`: as some APIs do.
 */
export const echoingCloud = (cloud: SimulatedCloud, value: string) => ({
  ...cloud,
  containers: {
    ...cloud.containers,
    startContainer: async (spec: { env?: Readonly<Record<string, string>> }) => {
      throw new Error(`refused: env ${JSON.stringify(spec.env)}`, {
        cause: new Error(`bad value ${value}`),
      });
    },
  },
});
