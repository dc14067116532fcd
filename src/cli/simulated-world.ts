import { resolve } from 'node:path';
import { createSimulatedCloud, type SimulatedCloud } from '../adapters/infrastructure/index.js';
import type { EventStore } from '../domain/event-store.js';
import { createEngine, type Engine } from '../engine/engine.js';
import { createTimeOrderedIds } from '../engine/ids.js';
import { catalogOperations } from './catalog-operations.js';
import { installFaults, type FaultSpec } from './cli-input.js';
import { lockCloud, loadCloud, saveCloud } from './cloud-file.js';
import { createSimulationClock, type SimulationClock } from './simulation-clock.js';

export const DEFAULT_CLOUD_FILE = '.opledger/cloud.json';

export interface WorldOptions {
  /** --cloud, then OPLEDGER_CLOUD, then .opledger/cloud.json. */
  cloudFile?: string;
  /** Virtual ms per real ms; Infinity runs without waiting. */
  speed: number;
  faults?: readonly FaultSpec[];
  store: EventStore;
}

/** The simulated cloud of the CLI, loaded from its file, and an engine running the catalog on it. */
export interface SimulatedWorld {
  cloud: SimulatedCloud;
  clock: SimulationClock;
  engine: Engine;
  cloudFile: string;
  /** Writes the cloud back to its file (faults of this run are not kept). */
  save(): void;
  /** Saves, shuts the engine down and releases the cloud's lock. */
  close(): Promise<void>;
}

export const cloudFileOf = (file?: string, env: NodeJS.ProcessEnv = process.env): string =>
  resolve(file ?? env.OPLEDGER_CLOUD ?? DEFAULT_CLOUD_FILE);

export const openSimulatedWorld = (options: WorldOptions): SimulatedWorld => {
  const cloudFile = cloudFileOf(options.cloudFile);
  const unlock = lockCloud(cloudFile);
  try {
    const saved = loadCloud(cloudFile);
    // Virtual time never goes back: ids and timestamps of later runs sort after earlier ones.
    const start = new Date(Math.max(Date.now(), saved ? Date.parse(saved.now) : 0));
    const clock = createSimulationClock({ start, speed: options.speed });
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
      save,
      close: async () => {
        if (closed) return;
        closed = true;
        try {
          await engine.shutdown();
          save();
        } finally {
          unlock();
        }
      },
    };
  } catch (error) {
    unlock();
    throw error;
  }
};
