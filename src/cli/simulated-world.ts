import { resolve } from 'node:path';
import { createSimulatedCloud, type SimulatedCloud } from '../adapters/infrastructure/index.js';
import type { EventStore } from '../domain/event-store.js';
import { createEngine, type Engine } from '../engine/engine.js';
import { createTimeOrderedIds } from '../engine/ids.js';
import type { StoreOutageNotice } from '../engine/store-outage.js';
import type { OperationResult } from '../engine/operation-result.js';
import { catalogOperations } from './catalog-operations.js';
import { installFaults, type FaultSpec } from './cli-input.js';
import { lockCloud, loadCloud, saveCloud } from './cloud-file.js';
import { createSimulationClock, type SimulationClock } from './simulation-clock.js';

export const CLOUDS_FOLDER = '.opledger/clouds';

export interface WorldOptions {
  environment: string;
  /** --cloud, then OPLEDGER_CLOUD, then .opledger/clouds/<environment>.json. */
  cloudFile?: string;
  /** Virtual ms per real ms; Infinity runs without waiting. */
  speed: number;
  /**
   * Runs in the past from this time (or from just after the cloud's saved time, if later),
   * without holding virtual time to the wall clock: how the demo writes weeks of history
   * before its present. Without it, virtual time starts now.
   */
  start?: Date;
  faults?: readonly FaultSpec[];
  store: EventStore;
  /** Hears when the store is waited for and when it is back (createEngine's storeOutage). */
  onStoreOutage?: (notice: StoreOutageNotice) => void;
  /** The outage budget (createEngine's storeOutage.maxMs); 60 s by default. */
  storeOutageMs?: number;
}

/** The simulated cloud of the CLI, loaded from its file, and an engine running the catalog on it. */
export interface SimulatedWorld {
  cloud: SimulatedCloud;
  clock: SimulationClock;
  engine: Engine;
  cloudFile: string;
  /** Records an operation started here, so that a run after a crash of this one recovers it. */
  track(operationId: string): void;
  /**
   * Rolls back what a process that died on this cloud left running (its lock names them);
   * they would otherwise hold their resources forever.
   */
  recoverAbandoned(): Promise<OperationResult[]>;
  /** Writes the cloud back to its file (faults of this run are not kept). */
  save(): void;
  /** Saves, shuts the engine down and releases the cloud's lock. */
  close(): Promise<void>;
  /**
   * Saves without waiting for the engine, for leaving at once. The lock stays, naming the
   * operations still running: the next process to open this cloud finds its owner dead and
   * recovers them.
   */
  abandon(): void;
}

/**
 * Each environment is its own stack on the simulated cloud, in its own file: `app:web` in
 * `staging` and in `production` are different apps, and runs in two environments do not wait
 * for each other's lock.
 */
export const cloudFileOf = (
  environment: string,
  file?: string,
  env: NodeJS.ProcessEnv = process.env,
): string =>
  resolve(file ?? env.OPLEDGER_CLOUD ?? `${CLOUDS_FOLDER}/${encodeURIComponent(environment)}.json`);

export const openSimulatedWorld = (options: WorldOptions): SimulatedWorld => {
  const cloudFile = cloudFileOf(options.environment, options.cloudFile);
  const lock = lockCloud(cloudFile);
  try {
    const saved = loadCloud(cloudFile);
    // Virtual time never goes back nor repeats: ids of later runs sort after earlier ones.
    const after = saved ? Date.parse(saved.now) + 1 : 0;
    const clock = options.start
      ? // Nothing else writes to a past no one is watching: no wall-clock floor is needed.
        createSimulationClock({
          start: new Date(Math.max(options.start.getTime(), after)),
          speed: options.speed,
        })
      : createSimulationClock({
          start: new Date(Math.max(Date.now(), after)),
          speed: options.speed,
          floor: Date.now,
        });
    const seed = saved?.seed ?? 1;
    const cloud = createSimulatedCloud({
      seed,
      clock,
      ...(saved ? { state: saved.state, images: saved.images } : {}),
    });
    installFaults(cloud, options.faults ?? []);
    const engine = createEngine({
      store: options.store,
      operations: catalogOperations(cloud),
      clock,
      ids: createTimeOrderedIds(clock),
      storeOutage: {
        ...(options.onStoreOutage ? { onOutage: options.onStoreOutage } : {}),
        ...(options.storeOutageMs !== undefined ? { maxMs: options.storeOutageMs } : {}),
      },
    });
    const save = () => {
      const { now, ...state } = cloud.snapshot();
      saveCloud(cloudFile, { version: 1, now, seed, state, images: saved?.images ?? {} });
    };
    let closed = false;
    return {
      cloud,
      clock,
      engine,
      cloudFile,
      track: (id) => lock.record(id),
      recoverAbandoned: async () => {
        if (lock.abandoned.length === 0) return [];
        const results = await engine.recover({ operationIds: lock.abandoned });
        save();
        return results;
      },
      save,
      close: async () => {
        if (closed) return;
        closed = true;
        try {
          await engine.shutdown();
          save();
        } finally {
          lock.release();
        }
      },
      abandon: () => {
        if (closed) return;
        closed = true;
        save();
      },
    };
  } catch (error) {
    lock.release();
    throw error;
  }
};
