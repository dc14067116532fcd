import { describe, expect, it } from 'vitest';
import { DEFAULT_CALL_DURATIONS as D } from '../../src/adapters/infrastructure/index.js';
import {
  CANCELLED_WINDOW_MAX_MS,
  cancelWorld,
  databaseTransitions,
  stepWindowsOf,
  volumeAttachments,
  type CancelAt,
  type CancelWorld,
  type StepWindow,
} from './database-cancel-world.js';
import { DB, IMAGE, NEW, RESIZE_WINDOW_MS, databaseState, dbDowntime } from './database-world.js';

const ROLLBACK_SUCCEEDED =
  'Rollback succeeded: everything was restored to the way it was before the operation.';

/**
 * Each operation is cancelled in every step (the call in flight is abandoned) and right after
 * every step (the next step never starts). Step times come from an undisturbed run.
 */
type When = 'during' | 'after';
const cases = (windows: () => StepWindow[], names: readonly string[]) =>
  names.flatMap((name, index) =>
    (['during', 'after'] as const).map((when) => ({
      name,
      index,
      when,
      cancel: (): CancelAt => {
        const w = windows().find((s) => s.name === name)!;
        return when === 'during'
          ? { atMs: w.start + 1, abortInFlight: true }
          : { atMs: w.end, abortInFlight: false };
      },
    })),
  );

/** The step the engine names as cancelled: the one in flight, none when the cancel fell between. */
const failedStepOf = (name: string, when: When) => (when === 'during' ? name : undefined);

/**
 * Cancelled, at the step in flight or (between steps) at none. A cancel seen after the last step
 * still wins: the engine records it before the success, so the operation is rolled back.
 */
const expectCancelled = (
  result: Awaited<ReturnType<CancelWorld['run']>>['result'],
  failedStep: string | undefined,
) => {
  expect(result.status).toBe('failed');
  expect(result.cancelled).toBe(true);
  expect(result.failedStep).toBe(failedStep);
};

const attachedOnce = (w: CancelWorld) => {
  // The world's own attach, then alternating detach/attach: never attached twice.
  const kinds = volumeAttachments(w.cloud, DB.volumeId);
  kinds.forEach((k, i) => expect(k).toBe(i % 2 === 0 ? 'volume-attached' : 'volume-detached'));
};

const REDEPLOY_STEPS = [
  'inspect placement',
  'ensure target instance',
  'pre-pull image',
  'stop old container',
  'unmount volume',
  'detach volume',
  'attach volume',
  'mount volume',
  'start new container',
] as const;
const STOP = REDEPLOY_STEPS.indexOf('stop old container');

describe('databaseRedeploy cancelled at any step', () => {
  const params = { ...DB, targetInstanceId: NEW };
  const windows = stepWindowsOf('database.redeploy', params, REDEPLOY_STEPS);

  it.each(cases(windows, REDEPLOY_STEPS))(
    'cancelled $when $name: back on the old instance, serving, the target terminated',
    async ({ name, index, when, cancel }) => {
      const w = await cancelWorld();
      const before = databaseState(w.cloud);
      const { result, log } = await w.run('database.redeploy', params, cancel());
      expectCancelled(result, failedStepOf(name, when));
      expect(result.rollback).toBe('succeeded');
      expect(result.notUndone).toEqual([]);
      expect(log.at(-1)).toBe(ROLLBACK_SUCCEEDED);
      // Restored exactly: the database, its volume (attached and mounted on the old instance)
      // and its old container, running; the instance launched for the move is gone.
      expect(databaseState(w.cloud)).toEqual(before);
      expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
      const s = w.cloud.snapshot();
      expect(s.instances[NEW]).toBeUndefined();
      expect(Object.keys(s.containers)).toEqual([DB.containerId]);
      attachedOnce(w);
      // The stop is the first change: before it, no downtime at all.
      const stopped = index > STOP || (index === STOP && when === 'after');
      if (!stopped) {
        expect(dbDowntime(w.cloud)).toBe(0);
        expect(databaseTransitions(w.cloud, DB.databaseId)).toEqual(['database-up']);
      } else {
        // One outage, from the stop until the old container runs again; or two when the
        // cancel came once the new container served: the rollback moves the database back.
        const moved = index === REDEPLOY_STEPS.length - 1 && when === 'after';
        expect(databaseTransitions(w.cloud, DB.databaseId)).toEqual([
          'database-up',
          'database-down',
          'database-up',
          ...(moved ? ['database-down', 'database-up'] : []),
        ]);
        expect(dbDowntime(w.cloud)).toBeGreaterThan(0);
        expect(dbDowntime(w.cloud)).toBeLessThanOrEqual(CANCELLED_WINDOW_MAX_MS);
      }
    },
  );

  it('a cancel abandoning the stop itself costs no downtime', async () => {
    const w = await cancelWorld();
    const stop = windows().find((s) => s.name === 'stop old container')!;
    const { result } = await w.run('database.redeploy', params, {
      atMs: stop.start + 1,
      abortInFlight: true,
    });
    expect(result).toMatchObject({ failedStep: 'stop old container', rollback: 'succeeded' });
    expect(dbDowntime(w.cloud)).toBe(0);
  });

  it('a cancel right after the stop: down only for the restart of the old container', async () => {
    const w = await cancelWorld();
    const stop = windows().find((s) => s.name === 'stop old container')!;
    await w.run('database.redeploy', params, { atMs: stop.end, abortInFlight: false });
    // Undo of the stop: look at the old container and instance, the volume (twice), the
    // container again, then start it.
    expect(dbDowntime(w.cloud)).toBe(
      D.describeContainer +
        D.describeInstance +
        2 * D.describeVolume +
        D.describeContainer +
        D.startContainer,
    );
  });

  it.each([
    { step: 'mount volume', when: 'during' as const },
    { step: 'start new container', when: 'after' as const },
  ])(
    'cancelled $when $step: a target that existed before stays, with no container of the redeploy',
    async ({ step, when }) => {
      const w = await cancelWorld({ targetExists: true });
      const targetBefore = w.cloud.snapshot().instances[NEW];
      const window = windows().find((s) => s.name === step)!;
      const { result, log } = await w.run(
        'database.redeploy',
        params,
        when === 'during'
          ? { atMs: window.start + 1, abortInFlight: true }
          : { atMs: window.end, abortInFlight: false },
      );
      expect(result).toMatchObject({ cancelled: true, rollback: 'succeeded' });
      const s = w.cloud.snapshot();
      // The image pulled onto it stays: a cache, not a change (the pull has no side effects).
      expect(s.instances[NEW]).toEqual({ ...targetBefore, images: [IMAGE] });
      expect(Object.keys(s.containers)).toEqual([DB.containerId]);
      if (when === 'after')
        expect(log).toContain(`Removed container db-op-000001 from instance ${NEW}.`);
      expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
    },
  );
});

const RESIZE_STEPS = [
  'inspect placement',
  'check new size',
  'stop old container',
  'unmount volume',
  'detach volume',
  'resize volume',
  'attach volume',
  'mount volume',
  'start container',
] as const;
const RESIZE_AT = RESIZE_STEPS.indexOf('resize volume');

describe('databaseResizeVolume cancelled at any step', () => {
  const params = { ...DB, sizeGb: 20 };
  const windows = stepWindowsOf('database.resize_volume', params, RESIZE_STEPS);

  it.each(cases(windows, RESIZE_STEPS))(
    'cancelled $when $name: serving on its instance again, grown only if the resize completed',
    async ({ name, index, when, cancel }) => {
      const w = await cancelWorld();
      const before = databaseState(w.cloud);
      const { result, log } = await w.run('database.resize_volume', params, cancel());
      expectCancelled(result, failedStepOf(name, when));
      const resized = index > RESIZE_AT || (index === RESIZE_AT && when === 'after');
      if (resized) {
        // Volumes only grow: the rollback says so instead of pretending.
        expect(result.rollback).toBe('failed');
        expect(result.notUndone).toEqual([{ step: 'resize volume', reason: 'irreversible' }]);
        expect(log.at(-1)).toMatch(/^Rollback failed: .*resize volume/);
        expect(databaseState(w.cloud)).toEqual({
          ...before,
          volume: { ...before.volume, sizeGb: 20 },
        });
      } else {
        expect(result.rollback).toBe('succeeded');
        expect(log.at(-1)).toBe(ROLLBACK_SUCCEEDED);
        expect(databaseState(w.cloud)).toEqual(before);
      }
      expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
      attachedOnce(w);
      const stopped =
        index > RESIZE_STEPS.indexOf('stop old container') ||
        (index === RESIZE_STEPS.indexOf('stop old container') && when === 'after');
      if (!stopped) expect(dbDowntime(w.cloud)).toBe(0);
      // The database comes back on the same instance: at most the window plus its rollback.
      expect(dbDowntime(w.cloud)).toBeLessThanOrEqual(RESIZE_WINDOW_MS + CANCELLED_WINDOW_MAX_MS);
      expect(databaseTransitions(w.cloud, DB.databaseId).length).toBe(stopped ? 3 : 1);
    },
  );
});

describe('databaseRestart cancelled at any step', () => {
  const STEPS = ['check database', 'stop container', 'start container'] as const;
  const STOP = STEPS.indexOf('stop container');
  const windows = stepWindowsOf('database.restart', DB, STEPS);

  it.each(cases(windows, STEPS))(
    'cancelled $when $name: the database runs again',
    async ({ name, index, when, cancel }) => {
      const w = await cancelWorld();
      const before = databaseState(w.cloud);
      const { result, log } = await w.run('database.restart', DB, cancel());
      // The start runs without the cancel signal (a restart gets the database back up first):
      // a cancel during it is seen only once it is done.
      expectCancelled(result, name === 'start container' ? undefined : failedStepOf(name, when));
      expect(result.rollback).toBe('succeeded');
      expect(log.at(-1)).toBe(ROLLBACK_SUCCEEDED);
      expect(databaseState(w.cloud)).toEqual(before);
      expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
      // Down from the stop until a start (the step's or its undo's): one describe and a start.
      const stopped = index > STOP || (index === STOP && when === 'after');
      expect(dbDowntime(w.cloud)).toBe(stopped ? D.describeContainer + D.startContainer : 0);
    },
  );
});

describe('databaseProvision cancelled at any step', () => {
  const STEPS = [
    'ensure instance',
    'pull image',
    'create volume',
    'attach volume',
    'mount volume',
    'create database',
    'start container',
  ] as const;
  const ids = { databaseId: 'db2', volumeId: 'v-db2', containerId: 'c-db2' };
  const params = { ...ids, instanceId: NEW, image: IMAGE, sizeGb: 5 };
  const windows = stepWindowsOf('database.provision', params, STEPS);

  it.each(cases(windows, STEPS))(
    'cancelled $when $name: the cloud is exactly as before',
    async ({ name, when, cancel }) => {
      const w = await cancelWorld();
      const { now: _before, ...before } = w.cloud.snapshot();
      const { result, log } = await w.run('database.provision', params, cancel());
      expectCancelled(result, failedStepOf(name, when));
      expect(result.rollback).toBe('succeeded');
      expect(log.at(-1)).toBe(ROLLBACK_SUCCEEDED);
      const { now: _after, ...after } = w.cloud.snapshot();
      expect(after).toEqual(before);
      // The other database never noticed.
      expect(dbDowntime(w.cloud)).toBe(0);
    },
  );
});

describe('databaseBackup cancelled at any step', () => {
  const STEPS = ['check database', 'upload backup'] as const;
  const params = { databaseId: DB.databaseId, bucket: 'b' };
  const windows = stepWindowsOf('database.backup', params, STEPS);

  it.each(cases(windows, STEPS))(
    'cancelled $when $name: no backup object is left behind',
    async ({ name, when, cancel }) => {
      const w = await cancelWorld();
      const { result } = await w.run('database.backup', params, cancel());
      expectCancelled(result, failedStepOf(name, when));
      expect(result.rollback).toBe('succeeded');
      expect(w.cloud.snapshot().objects).toEqual({});
      expect(dbDowntime(w.cloud)).toBe(0);
    },
  );
});

describe('databaseDeprovision cancelled at any step', () => {
  const STEPS = [
    'stop container',
    'release volume',
    'delete container',
    'delete volume',
    'delete database',
  ] as const;
  const IRREVERSIBLE = STEPS.indexOf('delete container');
  const windows = stepWindowsOf('database.deprovision', DB, STEPS);

  it.each(cases(windows, STEPS))(
    'cancelled $when $name: restored until a deletion, then the deletions are reported',
    async ({ name, index, when, cancel }) => {
      const w = await cancelWorld();
      const before = databaseState(w.cloud);
      const { result, log } = await w.run('database.deprovision', DB, cancel());
      expectCancelled(result, failedStepOf(name, when));
      const deleted = STEPS.slice(IRREVERSIBLE, when === 'after' ? index + 1 : index);
      attachedOnce(w);
      if (deleted.length === 0) {
        expect(result.rollback).toBe('succeeded');
        expect(log.at(-1)).toBe(ROLLBACK_SUCCEEDED);
        expect(databaseState(w.cloud)).toEqual(before);
        expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
        return;
      }
      // What was deleted stays deleted, and the verdict names exactly that: no undo failed.
      expect(result.rollback).toBe('failed');
      expect(result.notUndone).toEqual(
        [...deleted].reverse().map((step) => ({ step, reason: 'irreversible' })),
      );
      const after = databaseState(w.cloud);
      expect(after.container).toBeUndefined();
      if (deleted.includes('delete volume')) expect(after.volume).toBeUndefined();
      else expect(after.volume).toEqual(before.volume);
      if (deleted.includes('delete database')) expect(after.database).toBeUndefined();
      else expect(after.database).toEqual(before.database);
      expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(false);
    },
  );
});
