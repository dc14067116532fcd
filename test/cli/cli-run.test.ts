import { afterAll, describe, expect, it } from 'vitest';
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
    expect((JSON.parse(listed.stdout) as { total: number }).total).toBe(9);
    const report = await runCli(['activity-reports', '--env', 'demo'], { cwd: work.dir, env });
    expect(report.stdout).toMatch(/^WEEK +FROM +TO +OPERATIONS\n\d{4}-W\d\d .* 9$/m);
  }, 60_000);
});
