import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CANCELLED_WINDOW_MAX_MS,
  cancelWorld,
  databaseTransitions,
  stepWindowsOf,
  volumeAttachments,
  type StepWindow,
} from './database-cancel-world.js';
import {
  DB,
  databaseState,
  dbDowntime,
  NEW,
  OLD,
  REDEPLOY_WINDOW_MS,
  RESIZE_WINDOW_MS,
} from './database-world.js';

const RUNS = { numRuns: 200 };

/** A cancel at any virtual time from the start to a little after the end of an undisturbed run. */
const cancelArb = (windows: () => StepWindow[]) =>
  fc.record({
    atMs: fc.integer({ min: 0, max: windows().at(-1)!.end + 5_000 }),
    abortInFlight: fc.boolean(),
  });

/** The volume was attached once, then only ever detached and attached in turn: never twice. */
const expectAttachedOnceAtATime = (kinds: string[]) => {
  kinds.forEach((k, i) => expect(k).toBe(i % 2 === 0 ? 'volume-attached' : 'volume-detached'));
  // It ends attached: never lost.
  expect(kinds.at(-1)).toBe('volume-attached');
};

type Outcome = 'done' | 'restored' | 'restored-grown';

describe('database redeploy and resize cancelled at any time', () => {
  const redeploy = { ...DB, targetInstanceId: NEW };
  const resize = { ...DB, sizeGb: 20 };
  const redeployWindows = stepWindowsOf('database.redeploy', redeploy);
  const resizeWindows = stepWindowsOf('database.resize_volume', resize);
  /**
   * The cancel prevents the stop, so the database never goes down: it arrives before the stop
   * starts, or while the stop is in flight and abandons it.
   */
  const preventsStop = (
    windows: StepWindow[],
    cancel: { atMs: number; abortInFlight: boolean },
  ) => {
    const stop = windows.find((s) => s.name === 'stop old container')!;
    return cancel.atMs <= stop.start || (cancel.abortInFlight && cancel.atMs <= stop.end);
  };

  it('redeploy: fully moved or fully back, the volume on one instance, downtime bounded', async () => {
    const seen: Record<Outcome, number> = { done: 0, restored: 0, 'restored-grown': 0 };
    await fc.assert(
      fc.asyncProperty(cancelArb(redeployWindows), fc.boolean(), async (cancel, targetExists) => {
        const w = await cancelWorld({ targetExists });
        const before = databaseState(w.cloud);
        const { id, result } = await w.run('database.redeploy', redeploy, cancel);
        const after = databaseState(w.cloud);
        const downtime = dbDowntime(w.cloud);
        expectAttachedOnceAtATime(volumeAttachments(w.cloud, DB.volumeId));
        expect(after.database).toEqual(before.database);
        expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
        const s = w.cloud.snapshot();
        const transitions = databaseTransitions(w.cloud, DB.databaseId);
        expect(transitions.at(-1)).toBe('database-up');

        if (result.status === 'succeeded') {
          // Fully done: on the new instance, in the new container, the old one stopped.
          expect(after.volume).toMatchObject({ attachedTo: NEW, mounted: true });
          expect(s.containers[`${DB.databaseId}-${id}`]).toMatchObject({
            instanceId: NEW,
            state: 'running',
          });
          expect(after.container?.state).toBe('exited');
          expect(downtime).toBeLessThanOrEqual(REDEPLOY_WINDOW_MS);
          expect(transitions).toHaveLength(3);
          seen.done += 1;
          return;
        }
        // Fully back: exactly as before, the target terminated unless it existed before.
        expect(result).toMatchObject({ cancelled: true, rollback: 'succeeded', notUndone: [] });
        expect(after).toEqual(before);
        expect(after.volume).toMatchObject({ attachedTo: OLD, mounted: true });
        expect(Object.keys(s.containers)).toEqual([DB.containerId]);
        expect(s.instances[NEW] !== undefined).toBe(targetExists);
        // Down once, from the stop to the restart of the old container; twice only if the
        // cancel came when the new container already served (the rollback moves it back).
        expect([1, 3, 5]).toContain(transitions.length);
        if (preventsStop(redeployWindows(), cancel)) expect(downtime).toBe(0);
        expect(downtime).toBeLessThanOrEqual(CANCELLED_WINDOW_MAX_MS);
        seen.restored += 1;
      }),
      RUNS,
    );
    expect(seen.done).toBeGreaterThan(0);
    expect(seen.restored).toBeGreaterThan(0);
  });

  it('resize: fully grown and serving, or back as before (grown if the resize ran)', async () => {
    const seen: Record<Outcome, number> = { done: 0, restored: 0, 'restored-grown': 0 };
    await fc.assert(
      fc.asyncProperty(cancelArb(resizeWindows), async (cancel) => {
        const w = await cancelWorld();
        const before = databaseState(w.cloud);
        const { result } = await w.run('database.resize_volume', resize, cancel);
        const after = databaseState(w.cloud);
        const downtime = dbDowntime(w.cloud);
        expectAttachedOnceAtATime(volumeAttachments(w.cloud, DB.volumeId));
        expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
        // Back on its own instance, in its own container, whatever happened.
        const grown = { ...before, volume: { ...before.volume, sizeGb: 20 } };
        const transitions = databaseTransitions(w.cloud, DB.databaseId);
        expect([1, 3]).toContain(transitions.length);
        if (preventsStop(resizeWindows(), cancel)) expect(downtime).toBe(0);

        if (result.status === 'succeeded') {
          expect(after).toEqual(grown);
          expect(downtime).toBeLessThanOrEqual(RESIZE_WINDOW_MS);
          seen.done += 1;
          return;
        }
        expect(result.cancelled).toBe(true);
        expect(downtime).toBeLessThanOrEqual(RESIZE_WINDOW_MS + CANCELLED_WINDOW_MAX_MS);
        if (result.rollback === 'succeeded') {
          expect(result.notUndone).toEqual([]);
          expect(after).toEqual(before);
          seen.restored += 1;
        } else {
          // The resize ran: volumes only grow, and the verdict says that and nothing else.
          expect(result.rollback).toBe('failed');
          expect(result.notUndone).toEqual([{ step: 'resize volume', reason: 'irreversible' }]);
          expect(after).toEqual(grown);
          seen['restored-grown'] += 1;
        }
      }),
      RUNS,
    );
    expect(seen.done).toBeGreaterThan(0);
    expect(seen.restored).toBeGreaterThan(0);
    expect(seen['restored-grown']).toBeGreaterThan(0);
  });
});
