import { setImmediate as flush } from 'node:timers/promises';
import { beforeAll, expect } from 'vitest';
import {
  createSimulatedCloud,
  DEFAULT_CALL_DURATIONS as D,
  type SimulatedCloud,
} from '../../src/adapters/infrastructure/index.js';
import {
  databaseBackup,
  databaseDeprovision,
  databaseProvision,
  databaseRedeploy,
  databaseResizeVolume,
  databaseRestart,
} from '../../src/catalog/database/index.js';
import {
  createEngine,
  createInMemoryEventStore,
  type Engine,
  type EventStore,
  type OperationResult,
} from '../../src/index.js';
import { createVirtualClock, type VirtualClock } from '../../src/testing/index.js';
import { DB, REDEPLOY_WINDOW_MS, setUpDatabase } from './database-world.js';

/**
 * When the cancel arrives: `atMs` virtual ms after the operation starts. `abortInFlight` true: a
 * cloud call still in flight then is abandoned (it has no effect, as the port promises for an
 * aborted call); false: the call in flight completes and the cancel is seen before the next one,
 * which is how a cancel lands exactly between two steps.
 */
export interface CancelAt {
  atMs: number;
  abortInFlight: boolean;
}

export interface CancelWorld {
  clock: VirtualClock;
  cloud: SimulatedCloud;
  engine: Engine;
  store: EventStore;
  run(
    type: string,
    params: Record<string, unknown>,
    cancel?: CancelAt,
  ): Promise<{ id: string; t0: number; result: OperationResult; log: string[] }>;
}

/**
 * The database world of `database-world.ts` (database `db` serving from `c-db` on `i-old`), on a
 * clock that delivers a cancel at an exact virtual time: each sleep that ends at or after the
 * cancel time (every cloud call sleeps its duration) waits until the engine has seen the cancel.
 */
export const cancelWorld = async (
  options: { targetExists?: boolean } = {},
): Promise<CancelWorld> => {
  const base = createVirtualClock();
  let pending: (CancelAt & { id: string; at: number }) | null = null;
  // The clock cancels through the engine made below, on that same clock.
  const ref: { engine?: Engine } = {};
  const clock: VirtualClock = {
    get sleeps() {
      return base.sleeps;
    },
    now: () => base.now(),
    advance: (ms) => base.advance(ms),
    sleep: async (ms, signal) => {
      await base.sleep(ms, signal);
      const due = pending;
      if (due && base.now().getTime() >= due.at) {
        pending = null;
        // An operation that already ended or failed has nothing left to cancel.
        await ref.engine?.cancel(due.id, { user: 'ada@example.com' }).catch(() => undefined);
        // The engine sees the cancel through its store subscription: let it be delivered.
        await flush();
        if (due.abortInFlight && signal?.aborted) throw signal.reason;
      }
    },
  };
  const cloud = createSimulatedCloud({ seed: 1, clock });
  await setUpDatabase(cloud, options);
  const store = createInMemoryEventStore();
  let n = 0;
  const nextId = () => `op-${String(++n).padStart(6, '0')}`;
  const e = createEngine({
    store,
    operations: [
      databaseRedeploy(cloud),
      databaseResizeVolume(cloud),
      databaseRestart(cloud),
      databaseProvision(cloud),
      databaseBackup(cloud),
      databaseDeprovision(cloud),
    ],
    clock,
    ids: nextId,
  });
  ref.engine = e;
  return {
    clock,
    cloud,
    engine: e,
    store,
    run: async (type, params, cancel) => {
      const t0 = base.now().getTime();
      // The id is known before start, so the cancel can never miss the operation's first call.
      const id = `op-${String(n + 1).padStart(6, '0')}`;
      if (cancel) pending = { ...cancel, id, at: t0 + cancel.atMs };
      const handle = await e.start({
        type,
        environment: 'production',
        resource: { type: 'database', handle: String(params['databaseId'] ?? DB.databaseId) },
        user: 'ada@example.com',
        params,
      });
      const log: string[] = [];
      handle.logs.subscribe((line) => log.push(line.message));
      const result = await handle.result;
      pending = null;
      return { id: handle.id, t0, result, log };
    },
  };
};

export interface StepWindow {
  name: string;
  /** Virtual ms after the operation's start. */
  start: number;
  end: number;
}

/** Where each step runs in virtual time when nothing interferes: from a run without a cancel. */
export const stepWindows = async (
  type: string,
  params: Record<string, unknown>,
  options: { targetExists?: boolean } = {},
): Promise<StepWindow[]> => {
  const w = await cancelWorld(options);
  const { id, t0, result } = await w.run(type, params);
  if (result.status !== 'succeeded')
    throw new Error(`the dry run of ${type} failed: ${result.summary}`);
  const windows = new Map<string, StepWindow>();
  for (const r of await w.store.readStream(`operation-${id}`)) {
    const data = r.data as { step?: string; at?: string };
    if (!data.step || !data.at) continue;
    const at = Date.parse(data.at) - t0;
    if (r.type === 'StepStarted') windows.set(data.step, { name: data.step, start: at, end: at });
    if (r.type === 'StepSucceeded') windows.get(data.step)!.end = at;
  }
  return [...windows.values()];
};

/**
 * The step windows of `type`, learnt once in a `beforeAll` of the enclosing describe (which
 * checks that the steps are `steps`, when given): call the getter inside the tests.
 */
export const stepWindowsOf = (
  type: string,
  params: Record<string, unknown>,
  steps?: readonly string[],
): (() => StepWindow[]) => {
  let windows: StepWindow[] = [];
  beforeAll(async () => {
    windows = await stepWindows(type, params);
    if (steps) expect(windows.map((s) => s.name)).toEqual(steps);
  });
  return () => windows;
};

/** The database's volume as attached, mounted and served: never on two instances at once. */
export const volumeAttachments = (cloud: SimulatedCloud, volumeId: string) =>
  cloud
    .timeline()
    .filter(
      (e) =>
        e.subject === volumeId && (e.kind === 'volume-attached' || e.kind === 'volume-detached'),
    )
    .map((e) => e.kind);

/** Database down/up transitions, in order. */
export const databaseTransitions = (cloud: SimulatedCloud, databaseId: string) =>
  cloud
    .timeline()
    .filter(
      (e) => e.subject === databaseId && (e.kind === 'database-down' || e.kind === 'database-up'),
    )
    .map((e) => e.kind);

/**
 * The calls of a full rollback of the downtime window of a redeploy, from a stopped new
 * container back to the old container serving: each undo looks before it acts (describes), then
 * makes at most the one or two calls that move the database back.
 */
const LOOK = D.describeContainer + D.describeInstance; // oldContainer()
export const REDEPLOY_ROLLBACK_MS =
  D.stopContainer + // undo 'start new container'
  (LOOK + D.describeVolume + D.unmountVolume) + // undo 'mount volume'
  (LOOK + D.describeVolume + D.detachVolume) + // undo 'attach volume'
  (LOOK + D.describeVolume + D.attachVolume) + // undo 'detach volume'
  (LOOK + D.describeVolume + D.mountVolume) + // undo 'unmount volume'
  (LOOK + 2 * D.describeVolume + D.describeContainer + D.startContainer); // undo 'stop old container'

/**
 * A cancel in the downtime window rolls the database back onto its old instance: it is down
 * from the stop until the old container runs again, so at most the whole forward window plus a
 * whole rollback of it.
 */
export const CANCELLED_WINDOW_MAX_MS = REDEPLOY_WINDOW_MS + REDEPLOY_ROLLBACK_MS;
