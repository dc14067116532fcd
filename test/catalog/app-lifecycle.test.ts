import { describe, expect, it } from 'vitest';
import type { SimulatedCloud } from '../../src/adapters/infrastructure/index.js';
import { appConfigure, envKeyObject, previousRelease } from '../../src/catalog/app/index.js';
import {
  createEngine,
  createInMemoryEventStore,
  createInMemoryReadStore,
  InvalidParamsError,
} from '../../src/index.js';
import { createProjector, createReadModel } from '../../src/projections/index.js';
import { createSequentialIds } from '../../src/testing/index.js';
import {
  APP,
  HOST,
  crashed,
  dyingStore,
  echoingCloud,
  lifecycleWorld,
  recoverOn,
  servingRelease,
  startOn,
  stepEvent,
  toJson,
  withoutTime,
  type RunningApp,
} from './app-lifecycle-fixtures.js';

const V1 = 'web:v1';
const V2 = 'web:v2';
const OLD_SECRET = 'old-s3cr3t-9f2c71';
const NEW_SECRET = 'new-s3cr3t-41d7e0';
const OLD_ENV = { RAILS_ENV: 'production', DB_PASSWORD: OLD_SECRET };
const NEW_ENV = { DB_PASSWORD: NEW_SECRET, FEATURE_X: 'on' };
const CONFIGURE = {
  set: { DB_PASSWORD: NEW_SECRET, FEATURE_X: 'on' },
  unset: ['RAILS_ENV'],
  sensitive: ['DB_PASSWORD'],
};
const RUNNING: RunningApp = { count: 2, image: V1, env: OLD_ENV };

const messages = (lines: { message: string }[]) => lines.map((l) => l.message).join('\n');
/** Virtual time of the first timeline entry of this kind and subject. */
const timeOf = (cloud: SimulatedCloud, kind: string, subject: string) => {
  const entry = cloud.timeline().find((e) => e.kind === kind && e.subject === subject);
  if (!entry) throw new Error(`no ${kind} of ${subject} on the timeline`);
  return entry.at;
};

describe('appProvision', () => {
  it('creates the instance and an empty endpoint; a first deploy then serves with no downtime', async () => {
    const w = await lifecycleWorld(11);
    const provision = await w.start('app.provision', {});
    expect((await provision.result).status).toBe('succeeded');
    const snap = w.cloud.snapshot();
    expect(snap.instances[HOST]?.state).toBe('available');
    expect(snap.endpoints[APP]).toEqual({ id: APP, targets: [], draining: [] });
    expect(messages(await provision.logs)).toMatch(/Created instance web-host/);

    const deploy = await w.run('app.deploy', { image: V1, env: { RAILS_ENV: 'production' } });
    expect(deploy.status).toBe('succeeded');
    expect(servingRelease(w.cloud)).toEqual({
      targets: [`${APP}-op-000002-1`],
      releases: [{ image: V1, env: { RAILS_ENV: 'production' } }],
      running: true,
    });
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
  });

  it('provisions only the instance of a service without an endpoint', async () => {
    const w = await lifecycleWorld(12);
    expect((await w.run('app.provision', { endpoint: false })).status).toBe('succeeded');
    const snap = w.cloud.snapshot();
    expect(Object.keys(snap.instances)).toEqual([HOST]);
    expect(snap.endpoints).toEqual({});
  });

  it('keeps what exists, and its rollback never removes it', async () => {
    const w = await lifecycleWorld(13, RUNNING);
    const before = withoutTime(w.cloud);
    const op = await w.start('app.provision', {});
    expect((await op.result).status).toBe('succeeded');
    expect(messages(await op.logs)).toMatch(/instance web-host already exists: kept as it is/);
    expect(withoutTime(w.cloud)).toEqual(before);
  });

  it('a failure at the endpoint removes the instance it launched: the cloud is as before', async () => {
    const w = await lifecycleWorld(14);
    const before = withoutTime(w.cloud);
    const now = w.clock.now().getTime();
    w.cloud.faults.outage('load-balancer', { from: now, to: now + 3_600_000 });
    const result = await w.run('app.provision', {});
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('create endpoint');
    expect(result.rollback).toBe('succeeded');
    w.cloud.faults.clear();
    expect(withoutTime(w.cloud)).toEqual(before);
  });

  it('after a crash while launching (outcome unknown), the recovery removes only its own instance', async () => {
    for (const existed of [false, true]) {
      const inner = createInMemoryEventStore();
      const w = await lifecycleWorld(15, existed ? RUNNING : undefined, {
        store: dyingStore(inner, stepEvent('StepSucceeded', 'launch instance')),
      });
      const before = withoutTime(w.cloud);
      const op = await w.start('app.provision', {});
      expect(await crashed(op.result)).toBe('crashed');
      // The process died after the instance was there, before its step was recorded.
      expect(w.cloud.snapshot().instances[HOST]).toBeDefined();
      const [recovered] = await recoverOn(inner, w);
      expect(recovered?.rollback).toBe('succeeded');
      if (existed) expect(withoutTime(w.cloud)).toEqual(before);
      else {
        expect(w.cloud.snapshot().instances).toEqual({});
        expect(w.cloud.snapshot().objects).toEqual({});
      }
    }
  });
});

describe('appConfigure', () => {
  it('rolls the same image with the new env, with zero downtime', async () => {
    const w = await lifecycleWorld(21, RUNNING);
    const op = await w.start('app.configure', CONFIGURE);
    const result = await op.result;
    expect(result.status).toBe('succeeded');
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    expect(servingRelease(w.cloud)).toEqual({
      targets: [`${APP}-op-000001-1`, `${APP}-op-000001-2`],
      releases: [{ image: V1, env: NEW_ENV }],
      running: true,
    });
    for (const id of w.oldIds) expect(w.cloud.snapshot().containers[id]).toBeUndefined();
    expect(messages(await op.logs)).toMatch(
      /Configuring web: setting FEATURE_X, DB_PASSWORD \(sensitive\); unsetting RAILS_ENV/,
    );
  });

  it('keeps secret values out of events and logs, and later operations keep the secret env', async () => {
    const w = await lifecycleWorld(22, RUNNING);
    const op = await w.start('app.configure', CONFIGURE);
    expect((await op.result).status).toBe('succeeded');
    const requested = (await w.store.readAll()).find((e) => e.type === 'OperationRequested');
    expect((requested?.data as { params: unknown }).params).toMatchObject({
      set: { FEATURE_X: 'on' },
      secrets: '[redacted]',
      sensitive: ['DB_PASSWORD'],
      unset: ['RAILS_ENV'],
    });
    // Restart, scale and deploy copy the env from the running containers.
    expect((await w.run('app.restart', {})).status).toBe('succeeded');
    expect((await w.run('app.scale', { containerCount: 3 })).status).toBe('succeeded');
    w.cloud.setImageBehaviour(V2, { responds: false });
    const failed = await w.run('app.deploy', { image: V2, healthCheckTimeoutSeconds: 10 });
    expect(failed.status).toBe('failed');
    w.cloud.setImageBehaviour(V2, {});
    expect((await w.run('app.deploy', { image: V2, containerCount: 2 })).status).toBe('succeeded');
    expect(servingRelease(w.cloud).releases).toEqual([{ image: V2, env: NEW_ENV }]);
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    const events = await w.eventsJson();
    // The old containers' specs were recorded (sealed): names visible, values not.
    expect(events).toContain('sealedEnv');
    expect(events).toContain('DB_PASSWORD');
    expect(events).not.toContain(NEW_SECRET);
    expect(events).not.toContain(OLD_SECRET);
    expect(messages(await op.logs)).not.toContain(NEW_SECRET);
  });

  it('a rollback after the old containers were removed starts them again with their real env', async () => {
    // A dry run tells when the first old container is removed; the real run is cancelled then.
    const dry = await lifecycleWorld(23, RUNNING);
    expect((await dry.run('app.configure', CONFIGURE)).status).toBe('succeeded');
    const removedAt = timeOf(dry.cloud, 'container-removed', `${APP}-v1-1`);

    const w = await lifecycleWorld(23, RUNNING);
    const before = w.cloud.snapshot();
    w.cancelAfter(removedAt - w.clock.now().getTime() + 1);
    const result = await w.run('app.configure', CONFIGURE);
    expect(result.status).toBe('failed');
    expect(result.cancelled).toBe(true);
    expect(result.rollback).toBe('succeeded');
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    // web-v1-1 was removed, then created again from its sealed record, with its secret.
    const removed = timeOf(w.cloud, 'container-removed', `${APP}-v1-1`);
    const restarted = w.cloud
      .timeline()
      .find((e) => e.kind === 'container-started' && e.subject === `${APP}-v1-1` && e.at > removed);
    expect(restarted).toBeDefined();
    expect(servingRelease(w.cloud)).toEqual({
      targets: w.oldIds,
      releases: [{ image: V1, env: OLD_ENV }],
      running: true,
    });
    expect(w.cloud.snapshot().containers).toEqual(before.containers);
    const events = await w.eventsJson();
    expect(events).not.toContain(OLD_SECRET);
    expect(events).not.toContain(NEW_SECRET);
  });

  it('a crash before success is rolled back by another process, old env restored from the seal', async () => {
    const inner = createInMemoryEventStore();
    const w = await lifecycleWorld(24, RUNNING, {
      store: dyingStore(inner, (e) => e.type === 'OperationSucceeded'),
    });
    const op = await w.start('app.configure', CONFIGURE);
    expect(await crashed(op.result)).toBe('crashed');
    // Every step ran: the old containers are gone, the new env serves.
    expect(servingRelease(w.cloud).releases).toEqual([{ image: V1, env: NEW_ENV }]);
    const [recovered] = await recoverOn(inner, w);
    expect(recovered?.status).toBe('failed');
    expect(recovered?.rollback).toBe('succeeded');
    expect(servingRelease(w.cloud)).toEqual({
      targets: w.oldIds,
      releases: [{ image: V1, env: OLD_ENV }],
      running: true,
    });
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    const events = toJson(await inner.readAll());
    expect(events).not.toContain(OLD_SECRET);
    expect(events).not.toContain(NEW_SECRET);
  });

  it('a failure midway (load balancer down at register) leaves the cloud exactly as before', async () => {
    const dry = await lifecycleWorld(25, RUNNING);
    expect((await dry.run('app.configure', CONFIGURE)).status).toBe('succeeded');
    const startedAt = timeOf(dry.cloud, 'container-started', `${APP}-op-000001-2`);

    const w = await lifecycleWorld(25, RUNNING);
    const before = withoutTime(w.cloud);
    w.cloud.faults.outage('load-balancer', { from: startedAt + 1, to: startedAt + 600_000 });
    const result = await w.run('app.configure', CONFIGURE);
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('register reconfigured targets');
    expect(result.rollback).toBe('succeeded');
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    expect(withoutTime(w.cloud)).toEqual(before);
  });

  it('masks a secret value that an error message quotes, before it is recorded', async () => {
    const w = await lifecycleWorld(27, RUNNING);
    const echoing = echoingCloud(w.cloud, NEW_SECRET);
    const engine = createEngine({
      store: w.store,
      operations: [appConfigure(echoing, { retry: { maxAttempts: 1 } })],
      clock: w.clock,
      ids: createSequentialIds('e-'),
    });
    const handle = await startOn(engine, 'app.configure', CONFIGURE);
    const result = await handle.result;
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('start reconfigured containers');
    expect(result.error?.message).toMatch(/refused: env .*"DB_PASSWORD":"\[redacted\]"/);
    expect(result.error?.causes).toEqual(['bad value [redacted]']);
    expect(await w.eventsJson()).not.toContain(NEW_SECRET);
    expect(servingRelease(w.cloud).targets).toEqual(w.oldIds);
  });

  it('rejects params that say nothing, or contradict themselves, before anything runs', async () => {
    const w = await lifecycleWorld(26, RUNNING);
    await expect(w.start('app.configure', {})).rejects.toThrow(/nothing to configure/);
    await expect(w.start('app.configure', { set: { A: '1' }, unset: ['A'] })).rejects.toThrow(
      /A is both set and unset/,
    );
    await expect(w.start('app.configure', { set: { A: '1' }, sensitive: ['B'] })).rejects.toThrow(
      /B is marked sensitive but not set/,
    );
    await expect(w.start('app.configure', { set: { '1A': 'x' } })).rejects.toThrow();
    expect(await w.store.readAll()).toEqual([]);
  });

  it('refuses a variable named __proto__ in set instead of leaving it out', async () => {
    const w = await lifecycleWorld(28, RUNNING);
    // JSON.parse makes an own `__proto__` key, which a plain z.record leaves out without a word.
    const set = JSON.parse('{"__proto__": "x", "FEATURE_X": "on"}') as object;
    const start = w.start('app.configure', { set });
    await expect(start).rejects.toBeInstanceOf(InvalidParamsError);
    await expect(start).rejects.toMatchObject({
      issues: ["set.__proto__: '__proto__' cannot be used as a key here"],
    });
    expect(await w.store.readAll()).toEqual([]);
  });
});

describe('appDeprovision', () => {
  it('deletes everything of the app, its recorded-environment key last', async () => {
    const w = await lifecycleWorld(31, RUNNING);
    expect((await w.run('app.configure', CONFIGURE)).status).toBe('succeeded');
    expect(w.cloud.snapshot().objects['opledger-apps']).toHaveProperty([envKeyObject(APP)]);
    const op = await w.start('app.deprovision', {});
    const result = await op.result;
    expect(result.status).toBe('succeeded');
    const snap = w.cloud.snapshot();
    expect(snap.instances).toEqual({});
    expect(snap.endpoints).toEqual({});
    expect(snap.containers).toEqual({});
    expect(snap.objects).toEqual({});
    const log = messages(await op.logs);
    expect(log).toMatch(/Deregistered web-op-000001-1, web-op-000001-2 from endpoint web/);
    expect(log).toMatch(/Deleted endpoint web/);
    expect(log).toMatch(/Terminated instance web-host/);
  });

  it('a failure before the irreversible steps restores the app completely, secrets included', async () => {
    const dry = await lifecycleWorld(32, RUNNING);
    expect((await dry.run('app.deprovision', {})).status).toBe('succeeded');
    const lastRemoved = timeOf(dry.cloud, 'container-removed', `${APP}-v1-2`);

    const w = await lifecycleWorld(32, RUNNING);
    const before = w.cloud.snapshot();
    w.cloud.faults.outage('load-balancer', { from: lastRemoved + 1, to: lastRemoved + 600_000 });
    const result = await w.run('app.deprovision', {});
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('delete endpoint');
    expect(result.rollback).toBe('succeeded');
    expect(result.notUndone).toEqual([]);
    w.cloud.faults.clear();
    // The containers were removed and are back, from their sealed records, secret and all.
    expect(servingRelease(w.cloud)).toEqual({
      targets: w.oldIds,
      releases: [{ image: V1, env: OLD_ENV }],
      running: true,
    });
    expect(w.cloud.snapshot().containers).toEqual(before.containers);
    expect(w.cloud.snapshot().instances).toEqual(before.instances);
    expect(await w.eventsJson()).not.toContain(OLD_SECRET);
  });

  it('after the point of no return, the rollback says what could not be undone, without retrying in vain', async () => {
    const dry = await lifecycleWorld(33, RUNNING);
    expect((await dry.run('app.deprovision', {})).status).toBe('succeeded');
    const terminatedAt = timeOf(dry.cloud, 'instance-terminated', HOST);

    const w = await lifecycleWorld(33, RUNNING);
    w.cloud.faults.outage('object-storage', {
      from: terminatedAt + 1,
      to: terminatedAt + 600_000,
    });
    const result = await w.run('app.deprovision', {});
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('delete app records');
    expect(result.rollback).toBe('failed');
    expect(result.notUndone.map((n) => [n.step, n.reason])).toEqual([
      ['terminate instance', 'irreversible'],
      ['delete endpoint', 'irreversible'],
      ['stop containers', 'undo_failed'],
      ['deregister targets', 'undo_failed'],
    ]);
    const undoFailures = (await w.store.readAll()).filter((e) => e.type === 'StepUndoFailed');
    expect(undoFailures).toHaveLength(2);
    expect(JSON.stringify(undoFailures.map((e) => e.data))).toMatch(/RestoreImpossibleError/);
  });
});

describe('appRollback', () => {
  const ON_V2: RunningApp = { count: 2, image: V2, env: { RAILS_ENV: 'production' }, pulled: [V1] };

  it('deploys the previous image forward, same env and count, zero downtime, no before_release', async () => {
    const w = await lifecycleWorld(41, ON_V2);
    const op = await w.start('app.rollback', { previousImage: V1 });
    expect((await op.result).status).toBe('succeeded');
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    expect(servingRelease(w.cloud)).toEqual({
      targets: [`${APP}-op-000001-1`, `${APP}-op-000001-2`],
      releases: [{ image: V1, env: { RAILS_ENV: 'production' } }],
      running: true,
    });
    const events = await w.store.readAll();
    const requested = events.find((e) => e.type === 'OperationRequested')?.data as {
      params: Record<string, unknown>;
      steps: { name: string }[];
    };
    expect(requested.params['image']).toBe(V1);
    expect(requested.steps.map((s) => s.name)).not.toContain('before_release');
    const succeeded = events.find((e) => e.type === 'OperationSucceeded')?.data;
    expect(succeeded).toMatchObject({ effects: { release: V1 } });
  });

  it('stays on the current release when the previous one fails its health check', async () => {
    const w = await lifecycleWorld(42, ON_V2);
    w.cloud.setImageBehaviour(V1, { responds: false });
    const result = await w.run('app.rollback', {
      previousImage: V1,
      healthCheckTimeoutSeconds: 10,
    });
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('health check');
    expect(result.rollback).toBe('succeeded');
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    expect(servingRelease(w.cloud)).toEqual({
      targets: w.oldIds,
      releases: [{ image: V2, env: { RAILS_ENV: 'production' } }],
      running: true,
    });
  });
});

describe('an app from provision to deprovision', () => {
  it('provision, deploy, deploy, configure, rollback, deprovision: no downtime, no secret anywhere', async () => {
    const w = await lifecycleWorld(51);
    const readStore = createInMemoryReadStore();
    const projector = createProjector({ store: w.store, readStore });
    const reads = createReadModel({ readStore, clock: w.clock });
    const resource = async () => {
      await projector.catchUp();
      return (await reads.resources('production')).find((r) => r.handle === APP);
    };

    expect((await w.run('app.provision', {})).status).toBe('succeeded');
    expect((await resource())?.release).toBeUndefined();
    const deployV1 = { image: V1, containerCount: 2, env: { RAILS_ENV: 'production' } };
    expect((await w.run('app.deploy', deployV1)).status).toBe('succeeded');
    expect((await w.run('app.deploy', { image: V2, containerCount: 2 })).status).toBe('succeeded');
    expect((await w.run('app.configure', CONFIGURE)).status).toBe('succeeded');
    expect((await resource())?.release).toBe(V2);

    const previous = await previousRelease(reads, { environment: 'production', app: APP });
    expect(previous).toBe(V1);
    expect((await w.run('app.rollback', { previousImage: previous })).status).toBe('succeeded');
    expect((await resource())?.release).toBe(V1);
    // The rollback keeps the configured env, and the one rolled back from is now "previous".
    expect(servingRelease(w.cloud).releases).toEqual([{ image: V1, env: NEW_ENV }]);
    expect(servingRelease(w.cloud).targets).toHaveLength(2);
    expect(await previousRelease(reads, { environment: 'production', app: APP })).toBe(V2);
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);

    expect((await w.run('app.deprovision', {})).status).toBe('succeeded');
    expect((await resource())?.status).toBe('deprovisioned');
    const snap = w.cloud.snapshot();
    expect([snap.instances, snap.endpoints, snap.containers, snap.objects]).toEqual([
      {},
      {},
      {},
      {},
    ]);

    const everything = [await w.eventsJson()];
    const page = await reads.listOperations({ environment: 'production', limit: 100 });
    expect(page.items).toHaveLength(6);
    for (const op of page.items) everything.push(await reads.logText(op.id));
    const csv = await reads.activityReportCsv('production', {
      from: '2000-01-01',
      to: '2100-01-01',
    });
    let report = '';
    for await (const chunk of csv) report += String(chunk);
    expect(report).toMatch(/app\.configure/);
    everything.push(report);
    for (const text of everything) expect(text).not.toContain(NEW_SECRET);
  });
});
