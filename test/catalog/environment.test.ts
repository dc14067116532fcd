import { describe, expect, it } from 'vitest';
import { EnvironmentNotEmptyError } from '../../src/catalog/index.js';
import { OpledgerError } from '../../src/index.js';
import { ENV, environmentWorld as world } from './environment-world.js';

const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EnvironmentNotEmptyError);
  return error as EnvironmentNotEmptyError;
};

describe('environment.deprovision refuses an environment that still has apps or databases', () => {
  it('refuses while an app runs, recording nothing; once the app is deprovisioned the name starts afresh', async () => {
    const w = world();
    expect((await w.run('environment.provision')).status).toBe('succeeded');
    expect((await w.run('app.provision')).status).toBe('succeeded');
    expect((await w.run('app.deploy')).status).toBe('succeeded');
    const head = await w.store.headPosition();

    const error = await refusal(w.engine.start(w.request('environment.deprovision')));
    expect(error).toBeInstanceOf(OpledgerError);
    expect(error.code).toBe('ENVIRONMENT_NOT_EMPTY');
    expect(error.environment).toBe(ENV);
    expect(error.resources).toEqual([{ type: 'app', handle: 'web' }]);
    expect(error.message).toBe(
      'Environment staging still has a resource not deprovisioned: app web. Deprovision it ' +
        'first (app.deprovision, database.deprovision), then deprovision the environment.',
    );
    // Not an operation: no event, nothing in the Activity, the environment and app untouched.
    expect(await w.store.headPosition()).toBe(head);
    expect(await w.activity()).toEqual([
      'environment.provision succeeded',
      'app.provision succeeded',
      'app.deploy succeeded',
    ]);
    expect(w.cloud.snapshot().objects['opledger-environments']).toHaveProperty([
      'staging/environment.json',
    ]);
    expect(w.cloud.snapshot().endpoints['web']?.targets).toHaveLength(1);

    // A deprovisioned app no longer counts.
    expect((await w.run('app.deprovision')).status).toBe('succeeded');
    expect((await w.run('environment.deprovision')).status).toBe('succeeded');

    // The name used again: the new environment never provisioned web, so it has no web to
    // deploy to, as in an environment never used before.
    expect((await w.run('environment.provision')).status).toBe('succeeded');
    const deploy = await w.run('app.deploy');
    expect(deploy.status).toBe('failed');
    expect(deploy.error?.message).toMatch(/instance web-host does not exist/);
    expect(await w.activity()).toEqual(['environment.provision succeeded', 'app.deploy failed']);

    // An app with operations is taken as there, as the read model (and the dashboard) lists it,
    // even one whose only operation failed; its deprovision finds nothing and succeeds.
    expect((await refusal(w.engine.start(w.request('environment.deprovision')))).resources).toEqual(
      [{ type: 'app', handle: 'web' }],
    );
    expect((await w.run('app.deprovision')).status).toBe('succeeded');
    expect((await w.run('environment.deprovision')).status).toBe('succeeded');
  });

  it('lists every app and database left, an app whose provision is still running included', async () => {
    const w = world();
    await w.run('environment.provision');
    expect((await w.run('database.provision')).status).toBe('succeeded');
    // Requested and not finished: the provision may still create the app.
    const provisioning = await w.engine.start(w.request('app.provision'));
    const error = await refusal(w.engine.start(w.request('environment.deprovision')));
    expect(error.resources).toEqual([
      { type: 'app', handle: 'web' },
      { type: 'database', handle: 'db' },
    ]);
    expect(error.message).toMatch(
      /^Environment staging still has 2 resources not deprovisioned: app web, database db\. Deprovision them first/,
    );
    expect((await provisioning.result).status).toBe('succeeded');

    expect((await w.run('database.deprovision')).status).toBe('succeeded');
    expect((await refusal(w.engine.start(w.request('environment.deprovision')))).resources).toEqual(
      [{ type: 'app', handle: 'web' }],
    );
    expect((await w.run('app.deprovision')).status).toBe('succeeded');
    expect((await w.run('environment.deprovision')).status).toBe('succeeded');
  });

  it('does not count an app whose first provision failed and was rolled back', async () => {
    const w = world();
    await w.run('environment.provision');
    w.cloud.faults.outage('compute', { from: 0, to: Number.MAX_SAFE_INTEGER });
    const failed = await w.run('app.provision');
    expect(failed.status).toBe('failed');
    expect(failed.rollback).toBe('succeeded');
    expect((await w.run('environment.deprovision')).status).toBe('succeeded');
  });

  it('counts an app whose deprovision failed: it may still run', async () => {
    const w = world();
    await w.run('environment.provision');
    await w.run('app.provision');
    await w.run('app.deploy');
    w.cloud.faults.outage('load-balancer', { from: 0, to: Number.MAX_SAFE_INTEGER });
    expect((await w.run('app.deprovision')).status).toBe('failed');
    expect((await refusal(w.engine.start(w.request('environment.deprovision')))).resources).toEqual(
      [{ type: 'app', handle: 'web' }],
    );
  });

  it('records nothing of a refused request, not even its idempotency key', async () => {
    const w = world();
    await w.run('environment.provision');
    await w.run('app.provision');
    await refusal(w.engine.start(w.request('environment.deprovision', { idempotencyKey: 'k1' })));
    await w.run('app.deprovision');
    const done = await w.run('environment.deprovision', { idempotencyKey: 'k1' });
    expect(done.status).toBe('succeeded');
    // The key now names that operation: asking again answers with it, even though the name
    // has an app again, rather than refusing (the request was admitted once).
    await w.run('app.provision');
    const again = await w.engine.start(
      w.request('environment.deprovision', { idempotencyKey: 'k1' }),
    );
    expect(again.id).toBe(done.id);
  });

  it('asks the given `resources` instead of replaying the store', async () => {
    const asked: string[] = [];
    let status: 'provisioned' | 'deprovisioned' = 'provisioned';
    const w = world({
      resources: async (environment) => {
        asked.push(environment);
        return [
          { type: 'app', handle: 'api', status },
          // Not an app nor a database: an environment does not own it.
          { type: 'dns-record', handle: 'www', status: 'provisioned' },
        ];
      },
    });
    await w.run('environment.provision');
    expect((await refusal(w.engine.start(w.request('environment.deprovision')))).resources).toEqual(
      [{ type: 'app', handle: 'api' }],
    );
    status = 'deprovisioned';
    expect((await w.run('environment.deprovision')).status).toBe('succeeded');
    expect(asked).toEqual([ENV, ENV]);
  });
});
