import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PAST_OPERATIONS } from '../../src/cli/commands/demo-history.js';
import { useTestDatabase } from '../support/postgres-database.js';
import { runCli, spawnCli, tempWorkdir, watchOutput } from './run-cli.js';

interface Record {
  kind: string;
  id?: string;
  message?: string;
  status?: string;
  cancelled?: boolean;
  rollback?: string;
}

const ndjson = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record);

describe('opledger run: catalog operations on the simulated cloud, kept between processes', () => {
  const work = tempWorkdir('cli-run');
  const cli = (...args: string[]) => runCli(args, { cwd: work.dir });
  afterAll(() => work.remove());

  const target = ['--env', 'prod', '--resource', 'app:web', '--speed', 'max'];

  it('provisions and deploys an app in separate processes, following each log', async () => {
    const env = await cli(
      'run',
      'environment.provision',
      '--env',
      'prod',
      '--resource',
      'environment:prod',
      '--speed',
      'max',
    );
    expect(env.code).toBe(0);
    const provision = await cli('run', 'app.provision', ...target);
    expect(provision.stderr).toMatch(/app\.provision \S+ on app web succeeded/);
    expect(provision.code).toBe(0);
    const deploy = await cli(
      'run',
      'app.deploy',
      ...target,
      '--param',
      'image=web:v1',
      '--param',
      'containerCount=2',
      '--param',
      'env.RAILS_ENV=production',
      '--param',
      'env.DB_PASSWORD=topsecret123',
      '--user',
      'ada@example.com',
      '--json',
    );
    expect(deploy.code).toBe(0);
    const records = ndjson(deploy.stdout);
    expect(records[0]).toMatchObject({ kind: 'started' });
    expect(records.at(-1)).toMatchObject({ kind: 'result', status: 'succeeded' });
    expect(
      records
        .filter((r) => r.kind === 'log')
        .map((r) => r.message)
        .join('\n'),
    ).toMatch(/Started 2 container\(s\) of web:v1/);
    const listed = await cli('operations', '--env', 'prod', '--json');
    const items = (JSON.parse(listed.stdout) as { items: { type: string; user: string }[] }).items;
    expect(items.map((i) => i.type)).toEqual([
      'app.deploy',
      'app.provision',
      'environment.provision',
    ]);
    expect(items[0]?.user).toBe('ada@example.com');
    // Env values are secrets: not in the output, the events or anywhere in the store's files.
    expect(deploy.stdout + listed.stdout).not.toContain('topsecret123');
    const store = readdirSync(join(work.dir, '.opledger')).filter((f) =>
      f.startsWith('opledger.db'),
    );
    expect(store.length).toBeGreaterThan(0);
    for (const file of store) {
      expect(readFileSync(join(work.dir, '.opledger', file)).includes('topsecret123')).toBe(false);
    }
  });

  it('injects faults: a Docker Hub outage fails over to Quay.io; an unhealthy image rolls back', async () => {
    const outage = await cli(
      'run',
      'app.deploy',
      ...target,
      '--param',
      'image=web:v2',
      '--fault',
      'outage:registry:docker-hub',
    );
    expect(outage.code).toBe(0);
    expect(outage.stdout).toMatch(/Pulled web:v2 from quay/);
    const unhealthy = await cli(
      'run',
      'app.deploy',
      ...target,
      '--param',
      'image=web:v3',
      '--param',
      'healthCheckTimeoutSeconds=20',
      '--fault',
      'unhealthy:web:v3',
    );
    expect(unhealthy.code).toBe(1);
    expect(unhealthy.stderr).toMatch(/failed at step 'health check'.*Rollback succeeded/);
    // The fault was for that run only: the same image deploys now.
    const healthy = await cli('run', 'app.deploy', ...target, '--param', 'image=web:v3');
    expect(healthy.code).toBe(0);
  });

  it('is cancelled from a second process, and rolls back', async () => {
    const running = spawnCli(
      [
        'run',
        'app.deploy',
        '--env',
        'prod',
        '--resource',
        'app:web',
        '--param',
        'image=web:v4',
        '--speed',
        '5',
      ],
      { cwd: work.dir },
    );
    const output = watchOutput(running);
    const [, id] = await output.waitFor('stderr', /Operation (\S+) started/);
    // While it pulls the image (20 virtual seconds, 4 real ones at speed 5).
    await output.waitFor('stdout', /\[pull image\] Step 'pull image' started/);
    // A third process follows the log live while the operation runs.
    const follower = watchOutput(spawnCli(['operation:follow', id as string], { cwd: work.dir }));
    await follower.waitFor('stdout', /\[pull image\] Step 'pull image' started/);
    const cancel = await cli(
      'operation:cancel',
      id as string,
      '--user',
      'bob@example.com',
      '--json',
    );
    expect(cancel.code).toBe(0);
    expect(JSON.parse(cancel.stdout)).toEqual({ id, status: 'running', alreadyRequested: false });
    expect(await output.exited).toBe(1);
    expect(output.text.stderr).toMatch(/was cancelled by bob@example.com.*Rollback succeeded/);
    expect(output.text.stdout).toMatch(/Cancellation requested by bob@example.com/);
    // The follower saw the lines written after it started, up to the verdict, and exits 1 too.
    expect(await follower.exited).toBe(1);
    expect(follower.text.stdout).toMatch(/Cancellation requested by bob@example.com/);
    expect(follower.text.stdout.trimEnd().split('\n').at(-1)).toMatch(/Rollback succeeded/);
    expect(follower.text.stderr).toMatch(/was cancelled by bob@example.com/);
    // The cancel from the wall clock is stamped no earlier than the simulated time before it.
    const stamps = follower.text.stdout
      .trim()
      .split('\n')
      .map((l) => l.slice(0, 24));
    expect(stamps).toEqual([...stamps].sort());
    // Once the operation has ended, a cancel is refused as bad input.
    const again = await cli('operation:cancel', id as string);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/has already ended/);
  }, 60_000);

  it('refuses a second run on the same simulated cloud while one runs', async () => {
    const first = spawnCli(
      ['run', 'app.restart', '--env', 'prod', '--resource', 'app:web', '--speed', '2'],
      { cwd: work.dir },
    );
    const output = watchOutput(first);
    await output.waitFor('stderr', /Operation \S+ started/);
    const second = await cli('run', 'app.scale', ...target, '--param', 'containerCount=3');
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /another opledger process \(pid \d+\) is running operations on the simulated cloud/,
    );
    first.kill('SIGINT');
    // Ctrl-C requests cancellation: the restart rolls back and the process ends with 1.
    expect(await output.exited).toBe(1);
  }, 60_000);

  it('keeps environments apart: app:web in another environment is another app', async () => {
    const elsewhere = await cli(
      'run',
      'app.deprovision',
      '--env',
      'staging',
      '--resource',
      'app:web',
      '--speed',
      'max',
    );
    // Nothing to deprovision there: prod's containers are not touched.
    expect(elsewhere.stdout).not.toMatch(/Deregistered|Stopped and removed/);
    const here = await cli('run', 'app.scale', ...target, '--param', 'containerCount=2');
    expect(here.stdout).toMatch(/container\(s\) serve; 2 wanted/);
    expect(here.code).toBe(0);
  });

  it('recovers what an interrupted run left, whether it was stopped twice or killed', async () => {
    // An app of its own, in an environment of its own.
    const api = ['--env', 'recovery', '--resource', 'app:api'];
    const fast = [...api, '--speed', 'max'];
    expect((await cli('run', 'app.provision', ...fast)).code).toBe(0);
    expect((await cli('run', 'app.deploy', ...fast, '--param', 'image=api:v1')).code).toBe(0);
    const deploy = (image: string) =>
      watchOutput(
        spawnCli(['run', 'app.deploy', ...api, '--param', `image=${image}`, '--speed', '4'], {
          cwd: work.dir,
        }),
      );
    // Ctrl-C twice: the second one leaves at once, the operation still running in the store.
    const stopped = deploy('api:v2');
    const [, first] = await stopped.waitFor('stderr', /Operation (\S+) started/);
    // Stopped during the drain, its rollback drains the new targets too (15 simulated seconds,
    // about 4 real ones): time for a second signal.
    await stopped.waitFor('stdout', /Step 'deregister old targets' started/, 40_000);
    stopped.kill('SIGINT');
    await stopped.waitFor('stderr', /SIGINT: stopping/);
    stopped.kill('SIGINT');
    expect(await stopped.exited).toBe(130);
    expect(stopped.text.stderr).toMatch(/Left without waiting: operation \S+ is still running/);
    const next = await cli('run', 'app.restart', ...fast);
    expect(next.stderr).toMatch(
      new RegExp(
        `Recovered an operation a stopped opledger process left: Operation app.deploy ${first} .*Rollback succeeded`,
      ),
    );
    expect(next.code).toBe(0);

    // Killed outright: the same.
    const killed = deploy('api:v3');
    const [, second] = await killed.waitFor('stderr', /Operation (\S+) started/);
    await killed.waitFor('stdout', /Step 'pull image' started/);
    killed.kill('SIGKILL');
    await killed.exited;
    const after = await cli('run', 'app.restart', ...fast);
    expect(after.stderr).toMatch(new RegExp(`Recovered .*${second}`));
    expect(after.code).toBe(0);
    const listed = await cli('operations', '--env', 'recovery', '--type', 'app.deploy', '--json');
    const items = (JSON.parse(listed.stdout) as { items: Record[] }).items;
    for (const id of [first, second]) {
      expect(items.find((o) => o.id === id)).toMatchObject({
        status: 'failed',
        rollback: 'succeeded',
      });
    }
  }, 120_000);

  it('stops the demo on SIGTERM after rolling back what runs, and runs it again', async () => {
    const demo = watchOutput(spawnCli(['demo', '--speed', '20'], { cwd: work.dir }));
    await demo.waitFor('stdout', /^== 4\. A successful deploy/);
    demo.kill('SIGTERM');
    expect(await demo.exited).toBe(130);
    expect(demo.text.stderr).toMatch(/SIGTERM: stopping/);
    expect(demo.text.stderr).toMatch(/The demo was stopped; run it again to start over/);
    expect(demo.text.stdout).not.toMatch(/^== 5\./m);
    const again = await cli('demo', '--speed', 'max');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^== 9\. Deprovision the app web/m);
  }, 60_000);
});

describe('the CLI on PostgreSQL', () => {
  const db = useTestDatabase();
  const work = tempWorkdir('cli-pg');
  afterAll(() => work.remove());

  it('runs the demo and reads it back through OPLEDGER_STORE', async () => {
    const env = { OPLEDGER_STORE: db.url };
    const demo = await runCli(['demo', '--speed', 'max'], { cwd: work.dir, env });
    expect(demo.stderr).toBe('');
    expect(demo.code).toBe(0);
    const listed = await runCli(['operations', '--env', 'demo', '--json'], { cwd: work.dir, env });
    // The nine scenes, after the history the first run in an environment writes.
    expect((JSON.parse(listed.stdout) as { total: number }).total).toBe(9 + PAST_OPERATIONS.length);
    const report = await runCli(['activity-reports', '--env', 'demo'], { cwd: work.dir, env });
    expect(report.stdout).toMatch(/^WEEK +FROM +TO +OPERATIONS\n\d{4}-W\d\d .* 9$/m);
  }, 60_000);
});
