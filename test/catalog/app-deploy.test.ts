import { describe, expect, it } from 'vitest';
import { InvalidParamsError } from '../../src/index.js';
import { APP, NEW_IMAGE, OLD_IMAGE, appWorld, serving } from './app-fixtures.js';

const messagesOf = (lines: { message: string }[]) => lines.map((l) => l.message);

describe('appDeploy', () => {
  it('switches the release with zero endpoint downtime', async () => {
    const w = await appWorld(1);
    const op = await w.start('app.deploy', { image: NEW_IMAGE, containerCount: 2 });
    const result = await op.result;
    expect(result.status).toBe('succeeded');
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    const s = serving(w.cloud);
    expect(s.images).toEqual([NEW_IMAGE]);
    expect(s.targets).toEqual([`${APP}-op-000001-1`, `${APP}-op-000001-2`]);
    const snap = w.cloud.snapshot();
    for (const id of w.oldIds) expect(snap.containers[id]).toBeUndefined();
    // The environment is carried over from the release it replaces.
    expect(snap.containers[`${APP}-op-000001-1`]?.env).toEqual({ RAILS_ENV: 'production' });
  });

  it('keeps as many containers as the release it replaces when containerCount is left out', async () => {
    const w = await appWorld(11, 3);
    const result = await (await w.start('app.deploy', { image: NEW_IMAGE })).result;
    expect(result.status).toBe('succeeded');
    expect(serving(w.cloud)).toEqual({
      targets: [1, 2, 3].map((n) => `${APP}-op-000001-${n}`),
      images: [NEW_IMAGE],
      running: true,
    });
  });

  it('rolls back on a failing health check; the old release still serves, downtime 0', async () => {
    const w = await appWorld(2);
    w.cloud.setImageBehaviour(NEW_IMAGE, { status: { '/healthcheck': 500 } });
    const op = await w.start('app.deploy', {
      image: NEW_IMAGE,
      strictHealthCheck: true,
      healthCheckTimeoutSeconds: 30,
    });
    const result = await op.result;
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('health check');
    // No before_release commands: nothing irreversible ran, so everything is restored.
    expect(result.notUndone).toEqual([]);
    expect(result.rollback).toBe('succeeded');
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    expect(serving(w.cloud)).toEqual({ targets: w.oldIds, images: [OLD_IMAGE], running: true });
    expect(w.cloud.snapshot().containers[`${APP}-op-000001-1`]).toBeUndefined();
    expect(messagesOf(await op.logs).join('\n')).toMatch(
      /failed the release health check on \/healthcheck \(status 500\)/,
    );
  });

  it('non-strict health checks accept any answer on /', async () => {
    const w = await appWorld(3);
    w.cloud.setImageBehaviour(NEW_IMAGE, { status: { '/': 503, '/healthcheck': 500 } });
    const op = await w.start('app.deploy', { image: NEW_IMAGE });
    expect((await op.result).status).toBe('succeeded');
  });

  it('fails over from Docker Hub to Quay during an outage, and the log says so', async () => {
    const w = await appWorld(4);
    const now = w.clock.now().getTime();
    w.cloud.faults.outage('registry:docker-hub', { from: now, to: now + 3_600_000 });
    const op = await w.start('app.deploy', { image: NEW_IMAGE });
    const result = await op.result;
    expect(result.status).toBe('succeeded');
    const log = messagesOf(await op.logs).join('\n');
    expect(log).toMatch(/failing over to quay/);
    expect(log).toMatch(/Pulled web:v2 from quay/);
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
  });

  it('reports before_release as irreversible when the health check fails after it ran', async () => {
    const w = await appWorld(5);
    w.cloud.setImageBehaviour(NEW_IMAGE, { responds: false });
    const op = await w.start('app.deploy', {
      image: NEW_IMAGE,
      beforeRelease: ['bundle exec rake db:migrate'],
      healthCheckTimeoutSeconds: 0,
    });
    const result = await op.result;
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('health check');
    expect(result.notUndone).toEqual([{ step: 'before_release', reason: 'irreversible' }]);
    const log = messagesOf(await op.logs).join('\n');
    expect(log).toMatch(/Ran 'bundle exec rake db:migrate' in a one-off container/);
    expect(log).toMatch(/Step 'before_release' cannot be undone \(irreversible\)/);
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    expect(serving(w.cloud).images).toEqual([OLD_IMAGE]);
  });

  it('rolls back when cancelled midway (during the drain of the old targets)', async () => {
    const w = await appWorld(6);
    // start 5 s + health 0.5 s + register 1 s + deregister call 1 s: inside the 15 s drain.
    w.cancelAfter(35_000);
    const op = await w.start('app.deploy', { image: NEW_IMAGE });
    const result = await op.result;
    expect(result.status).toBe('failed');
    expect(result.cancelled).toBe(true);
    // No before_release commands: nothing irreversible ran, so everything is restored.
    expect(result.notUndone).toEqual([]);
    expect(result.rollback).toBe('succeeded');
    expect(w.cloud.downtime().endpoints[APP]).toBe(0);
    expect(serving(w.cloud)).toEqual({ targets: w.oldIds, images: [OLD_IMAGE], running: true });
  });

  it('stops the old containers before starting new ones for a service without an endpoint', async () => {
    const w = await appWorld(7, 1);
    const op = await w.start('app.deploy', {
      image: NEW_IMAGE,
      endpoint: false,
      previousContainers: w.oldIds,
    });
    expect((await op.result).status).toBe('succeeded');
    const t = w.cloud.timeline();
    const stopped = t.findIndex((e) => e.kind === 'container-stopped' && e.subject === w.oldIds[0]);
    const started = t.findIndex(
      (e) => e.kind === 'container-started' && e.subject === `${APP}-op-000001-1`,
    );
    expect(stopped).toBeGreaterThan(-1);
    expect(started).toBeGreaterThan(stopped);
  });

  it('rejects a health-check timeout above 900 s before anything runs', async () => {
    const w = await appWorld(8);
    await expect(
      w.start('app.deploy', { image: NEW_IMAGE, healthCheckTimeoutSeconds: 901 }),
    ).rejects.toThrow();
  });

  it('refuses a variable named __proto__ in env instead of deploying without it', async () => {
    const w = await appWorld(9);
    // JSON.parse makes an own `__proto__` key, which a plain z.record leaves out without a word.
    const env = JSON.parse('{"__proto__": "x", "RAILS_ENV": "production"}') as object;
    const start = w.start('app.deploy', { image: NEW_IMAGE, env });
    await expect(start).rejects.toBeInstanceOf(InvalidParamsError);
    await expect(start).rejects.toMatchObject({
      issues: ["env.__proto__: '__proto__' cannot be used as a key here"],
    });
    expect(await w.store.readAll()).toEqual([]);
  });
});
