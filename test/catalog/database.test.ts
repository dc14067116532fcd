import { describe, expect, it } from 'vitest';
import { DEFAULT_CALL_DURATIONS as D } from '../../src/adapters/infrastructure/index.js';
import {
  databaseBackup,
  databaseDeprovision,
  databaseProvision,
  databaseRedeploy,
  databaseResizeVolume,
  databaseRestart,
} from '../../src/catalog/database/index.js';
import {
  environmentDeprovision,
  environmentProvision,
} from '../../src/catalog/environment/index.js';
import { sshSession } from '../../src/catalog/ssh/index.js';
import {
  attachmentsAlternate,
  DB,
  databaseState,
  databaseWorld,
  dbDowntime,
  IMAGE,
  NEW,
  OLD,
  REDEPLOY_WINDOW_MS,
} from './database-world.js';

const redeployWorld = (options: { seed?: number; targetExists?: boolean } = {}) =>
  databaseWorld((cloud) => [databaseRedeploy(cloud)], options);
const redeploy = { ...DB, targetInstanceId: NEW };

describe('databaseRedeploy', () => {
  it('moves the database; its downtime is exactly the stop-to-start window', async () => {
    const w = await redeployWorld();
    const result = await w.run('database.redeploy', redeploy);
    expect(result.status).toBe('succeeded');
    const s = w.cloud.snapshot();
    expect(s.volumes[DB.volumeId]).toMatchObject({ attachedTo: NEW, mounted: true });
    expect(s.containers[DB.containerId]?.state).toBe('exited');
    expect(s.containers['db-op-000001']).toMatchObject({ instanceId: NEW, state: 'running' });
    expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
    // The database goes down when the stop completes and is back when the start completes.
    const measured =
      D.unmountVolume + D.detachVolume + D.attachVolume + D.mountVolume + D.startContainer;
    expect(dbDowntime(w.cloud)).toBe(measured);
    expect(dbDowntime(w.cloud)).toBeLessThanOrEqual(REDEPLOY_WINDOW_MS);
    // Preconditions ran before the stop, while the old container served.
    const kinds = w.cloud.timeline().map((e) => e.kind);
    expect(kinds.indexOf('image-pulled', 1)).toBeLessThan(kinds.indexOf('database-down'));
    expect(attachmentsAlternate(w.cloud)).toBe(true);
  });

  it('leaves downtime 0 and the database untouched when the image pull fails on both registries', async () => {
    const w = await redeployWorld();
    const before = databaseState(w.cloud);
    const forever = { from: 0, to: Date.parse('2100-01-01') };
    w.cloud.faults.outage('registry:docker-hub', forever);
    w.cloud.faults.outage('registry:quay', forever);
    const result = await w.run('database.redeploy', redeploy);
    expect(result).toMatchObject({ status: 'failed', failedStep: 'pre-pull image' });
    expect(result.rollback).toBe('succeeded');
    expect(dbDowntime(w.cloud)).toBe(0);
    expect(databaseState(w.cloud)).toEqual(before);
    // The instance launched for the redeploy is terminated by the rollback.
    expect(w.cloud.snapshot().instances[NEW]).toBeUndefined();
  });

  it('fails in ensure target instance under a compute outage after the placement check', async () => {
    const w = await redeployWorld();
    const before = databaseState(w.cloud);
    const t0 = w.clock.now().getTime();
    // inspect placement takes two describes (400 ms): the outage starts right after them.
    w.cloud.faults.outage('compute', { from: t0 + 400, to: t0 + 3_600_000 });
    const result = await w.run('database.redeploy', redeploy);
    expect(result).toMatchObject({ status: 'failed', failedStep: 'ensure target instance' });
    expect(dbDowntime(w.cloud)).toBe(0);
    expect(databaseState(w.cloud)).toEqual(before);
    expect(w.cloud.snapshot().instances[NEW]).toBeUndefined();
  });

  // Virtual offsets from the start of the operation at which each window call begins.
  const PRE = 2 * D.describeContainer + D.describeInstance + D.ensureInstance + D.pullImage;
  const START_OF = {
    unmountVolume: PRE + D.stopContainer,
    detachVolume: PRE + D.stopContainer + D.unmountVolume,
    attachVolume: PRE + D.stopContainer + D.unmountVolume + D.detachVolume,
    mountVolume: PRE + D.stopContainer + D.unmountVolume + D.detachVolume + D.attachVolume,
    startContainer:
      PRE + D.stopContainer + D.unmountVolume + D.detachVolume + D.attachVolume + D.mountVolume,
  };

  it.each(Object.keys(START_OF) as (keyof typeof START_OF)[])(
    'rolls the database back onto the old instance, serving, when %s fails after the stop',
    async (call) => {
      const w = await redeployWorld();
      const before = databaseState(w.cloud);
      const t0 = w.clock.now().getTime() + START_OF[call];
      w.cloud.faults.outage('compute', { from: t0, to: t0 + 1 });
      const result = await w.run('database.redeploy', redeploy);
      expect(result).toMatchObject({ status: 'failed', rollback: 'succeeded' });
      expect(w.cloud.timeline().some((e) => e.kind === 'call-failed' && e.subject === call)).toBe(
        true,
      );
      expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
      expect(databaseState(w.cloud)).toEqual(before);
      expect(w.cloud.snapshot().instances[NEW]).toBeUndefined();
      expect(attachmentsAlternate(w.cloud)).toBe(true);
    },
  );

  it('rolls back onto the old instance when the new instance crashes before the start', async () => {
    const w = await redeployWorld({ targetExists: true });
    const before = databaseState(w.cloud);
    const occurrence = (w.cloud.callCounts().startContainer ?? 0) + 1;
    w.cloud.faults.crashInstanceOnCall(NEW, { call: 'startContainer', occurrence });
    const result = await w.run('database.redeploy', redeploy);
    expect(result).toMatchObject({
      status: 'failed',
      failedStep: 'start new container',
      rollback: 'succeeded',
    });
    expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
    expect(databaseState(w.cloud)).toEqual(before);
    // A pre-existing target instance is never terminated by the rollback.
    expect(w.cloud.snapshot().instances[NEW]).toBeDefined();
  });
});

describe('databaseResizeVolume', () => {
  it('grows the volume with downtime within the window and the database serving again', async () => {
    const w = await databaseWorld((cloud) => [databaseResizeVolume(cloud)]);
    const result = await w.run('database.resize_volume', { ...DB, sizeGb: 20 });
    expect(result.status).toBe('succeeded');
    expect(databaseState(w.cloud).volume).toMatchObject({
      sizeGb: 20,
      attachedTo: OLD,
      mounted: true,
    });
    expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
    expect(dbDowntime(w.cloud)).toBe(
      D.unmountVolume +
        D.detachVolume +
        D.resizeVolume +
        D.attachVolume +
        D.mountVolume +
        D.startContainer,
    );
  });

  it('refuses to shrink before any downtime', async () => {
    const w = await databaseWorld((cloud) => [databaseResizeVolume(cloud)]);
    const before = databaseState(w.cloud);
    const result = await w.run('database.resize_volume', { ...DB, sizeGb: 5 });
    expect(result).toMatchObject({
      status: 'failed',
      failedStep: 'check new size',
    });
    expect(['none', 'succeeded']).toContain(result.rollback);
    expect(databaseState(w.cloud)).toEqual(before);
    expect(dbDowntime(w.cloud)).toBe(0);
  });

  it('resizes in place without downtime when asked', async () => {
    const w = await databaseWorld((cloud) => [databaseResizeVolume(cloud, { mode: 'in-place' })]);
    const result = await w.run('database.resize_volume', { ...DB, sizeGb: 20 });
    expect(result.status).toBe('succeeded');
    expect(databaseState(w.cloud).volume?.sizeGb).toBe(20);
    expect(dbDowntime(w.cloud)).toBe(0);
  });
});

describe('other database operations', () => {
  it('restarts the database', async () => {
    const w = await databaseWorld((cloud) => [databaseRestart(cloud)]);
    const result = await w.run('database.restart', DB);
    expect(result.status).toBe('succeeded');
    expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
    expect(w.cloud.timeline().filter((e) => e.kind === 'container-started')).toHaveLength(2);
  });

  it('backup writes an object, and its rollback deletes it', async () => {
    const w = await databaseWorld((cloud) => [databaseBackup(cloud)]);
    const ok = await w.run('database.backup', { databaseId: DB.databaseId, bucket: 'b' });
    expect(ok.status).toBe('succeeded');
    expect(Object.keys(w.cloud.snapshot().objects['b'] ?? {})).toEqual(['db/op-000001.dump']);

    // The undo of 'upload backup' deletes the object: driven directly, as the last step cannot
    // be followed by a failure inside the operation.
    const def = databaseBackup(w.cloud);
    const upload = def.steps.find((s) => s.name === 'upload backup');
    expect(upload?.kind).toBe('undoable');
    await upload?.undo?.({
      operationId: 'op-000001',
      params: { databaseId: DB.databaseId, bucket: 'b' },
      outcome: 'succeeded',
      output: { bucket: 'b', key: 'db/op-000001.dump' },
      outputs: {},
      provider: undefined,
      log: () => {},
      attempt: 1,
      fence: 0,
      signal: new AbortController().signal,
    });
    expect(w.cloud.snapshot().objects['b']).toBeUndefined();
  });

  it('provisions then deprovisions a database', async () => {
    const w = await databaseWorld((cloud) => [
      databaseProvision(cloud),
      databaseDeprovision(cloud),
    ]);
    const ids = { databaseId: 'db2', volumeId: 'v-db2', containerId: 'c-db2' };
    const p = await w.run('database.provision', {
      ...ids,
      instanceId: NEW,
      image: IMAGE,
      sizeGb: 5,
    });
    expect(p.status).toBe('succeeded');
    expect(await w.cloud.databases.acceptsConnections('db2')).toBe(true);
    const d = await w.run('database.deprovision', ids);
    expect(d.status).toBe('succeeded');
    const s = w.cloud.snapshot();
    expect(s.databases['db2']).toBeUndefined();
    expect(s.volumes['v-db2']).toBeUndefined();
    expect(s.containers['c-db2']).toBeUndefined();
    expect(databaseProvision(w.cloud).lifecycle).toBe('provision');
    expect(databaseDeprovision(w.cloud).lifecycle).toBe('deprovision');
  });

  it('a provision that fails at its container start rolls everything back', async () => {
    const w = await databaseWorld((cloud) => [databaseProvision(cloud)]);
    const before = w.cloud.snapshot();
    w.cloud.faults.crashInstanceOnCall(NEW, {
      call: 'startContainer',
      occurrence: 2,
      timing: 'before',
    });
    const ids = { databaseId: 'db2', volumeId: 'v-db2', containerId: 'c-db2' };
    const p = await w.run('database.provision', {
      ...ids,
      instanceId: NEW,
      image: IMAGE,
      sizeGb: 5,
    });
    expect(p).toMatchObject({ status: 'failed', failedStep: 'start container' });
    const s = w.cloud.snapshot();
    expect(s.databases['db2']).toBeUndefined();
    expect(s.volumes['v-db2']).toBeUndefined();
    expect(s.instances[NEW]).toBeUndefined();
    expect(s.volumes[DB.volumeId]).toEqual(before.volumes[DB.volumeId]);
  });
});

describe('environments', () => {
  it('provision and deprovision an environment', async () => {
    const w = await databaseWorld((cloud) => [
      environmentProvision(cloud),
      environmentDeprovision(cloud),
    ]);
    const start = (type: string) =>
      w.engine
        .start({
          type,
          environment: 'staging',
          resource: { type: 'environment', handle: 'staging' },
          user: 'ada@example.com',
          params: { environment: 'staging' },
        })
        .then((h) => h.result);
    expect((await start('environment.provision')).status).toBe('succeeded');
    expect(w.cloud.snapshot().objects['opledger-environments']).toHaveProperty([
      'staging/environment.json',
    ]);
    expect((await start('environment.deprovision')).status).toBe('succeeded');
    expect(w.cloud.snapshot().objects['opledger-environments']).toBeUndefined();
    expect(environmentProvision(w.cloud).lifecycle).toBe('provision');
    expect(environmentDeprovision(w.cloud).lifecycle).toBe('deprovision');
  });
});

describe('sshSession', () => {
  const ssh = (w: Awaited<ReturnType<typeof databaseWorld>>, containerId: string) =>
    w.engine.start({
      type: 'ssh.session',
      environment: 'production',
      resource: { type: 'database', handle: 'db' },
      user: 'ada@example.com',
      params: { containerId },
    });

  it('has only steps without side effects', async () => {
    const w = await databaseWorld((cloud) => [sshSession(cloud)]);
    expect(sshSession(w.cloud).steps.every((s) => s.kind === 'no_side_effects')).toBe(true);
    expect((await (await ssh(w, DB.containerId)).result).status).toBe('succeeded');
  });

  it('a failing session is never rolled back', async () => {
    const w = await databaseWorld((cloud) => [sshSession(cloud)]);
    const result = await (await ssh(w, 'missing')).result;
    expect(result).toMatchObject({
      status: 'failed',
      rollback: 'none',
      failedStep: 'locate container',
    });
  });

  it('a cancelled session is never rolled back', async () => {
    const w = await databaseWorld((cloud) => [sshSession(cloud)]);
    const handle = await ssh(w, DB.containerId);
    await w.engine.cancel(handle.id, { user: 'ada@example.com' });
    const result = await handle.result;
    expect(result.rollback).toBe('none');
    expect(result.cancelled).toBe(true);
  });
});
