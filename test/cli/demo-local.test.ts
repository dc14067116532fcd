import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readlinkSync, rmSync } from 'node:fs';
import { runCli, spawnCli, tempWorkdir, watchOutput, type CliRun } from './run-cli.js';

/** SIGKILL runs no code: what the killed CLI started is still running, in its folder. */
const killProcessesUnder = (root: string) => {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readlinkSync(`/proc/${pid}/cwd`).startsWith(root)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
};

interface OperationJson {
  type: string;
  status: string;
  rollback: string;
  cancelled: boolean;
}

describe('opledger demo --local: the demo on real processes of this machine', () => {
  const work = tempWorkdir('demo-local');
  const cli = (...args: string[]) => runCli(args, { cwd: work.dir });
  let demo: CliRun;

  beforeAll(async () => {
    demo = await cli('demo', '--local');
  }, 120_000);
  afterAll(() => work.remove());

  it('runs every scene, prints the requests served during the deploys and no error', () => {
    expect(demo.stderr).toBe('');
    expect(demo.code).toBe(0);
    const total =
      /Load during the deploys, restart and scaling: (\d+) requests, (\d+) served, (\d+) errors \((\d+) refused connections\); the proxy retried (\d+) on another container/.exec(
        demo.stdout,
      );
    expect(total, demo.stdout).not.toBeNull();
    const [, requests, served, errors, refused, retried] = (total ?? []).map(Number);
    expect(requests).toBeGreaterThan(100);
    expect(served).toBe(requests);
    expect(errors).toBe(0);
    expect(refused).toBe(0);
    expect(retried).toBe(0);
    // One line per operation under load, each with its own count.
    const perOperation = [...demo.stdout.matchAll(/During this operation: (\d+) requests/g)];
    expect(perOperation).toHaveLength(6);
    expect(demo.stdout).toMatch(/database main refused connections for \d+ ms/);
  });

  it('records the operations in the default store, with their real outcomes', async () => {
    const listed = await cli('operations', '--env', 'demo', '--json', '--limit', '50');
    expect(listed.code).toBe(0);
    const items = (JSON.parse(listed.stdout) as { items: OperationJson[] }).items;
    const deploys = items.filter((op) => op.type === 'app.deploy').reverse();
    expect(deploys.map((d) => [d.status, d.rollback, d.cancelled])).toEqual([
      ['succeeded', 'none', false],
      ['succeeded', 'none', false],
      ['failed', 'succeeded', false],
      ['failed', 'succeeded', true],
    ]);
    expect(items.map((op) => op.type)).toEqual(
      expect.arrayContaining(['app.restart', 'app.scale', 'database.redeploy']),
    );
    expect(items.every((op) => op.status !== 'running')).toBe(true);
  });

  it('refuses --cloud, which names a simulated cloud', async () => {
    const run = await cli('demo', '--local', '--cloud', 'x.json');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--cloud names a simulated cloud/);
  });

  it('after a run killed with SIGKILL mid-operation, the next run recovers its operation instead of waiting for it', async () => {
    const child = spawnCli(['demo', '--local'], { cwd: work.dir });
    const output = watchOutput(child);
    const [, root = ''] = await output.waitFor('stdout', /real processes under (\S+)/);
    try {
      // Killed while scene 5's deploy runs (its image is pulled, its health check waits).
      await output.waitFor('stdout', /Pulled web:v3 from docker-hub/, 60_000);
      output.kill('SIGKILL');
      await output.exited;
    } finally {
      killProcessesUnder(root);
      rmSync(root, { recursive: true, force: true });
    }
    const next = await cli('demo', '--local');
    expect(next.stderr).toBe('');
    expect(next.stdout).toMatch(
      /Recovered an operation an interrupted run left: Operation app\.deploy \S+ on app web failed/,
    );
    expect(next.code).toBe(0);
  }, 120_000);
});
