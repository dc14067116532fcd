import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

describe('examples', () => {
  it('every example is covered here', () => {
    expect(readdirSync(join(root, 'examples')).sort()).toEqual([
      'activity-report.ts',
      'dashboard.ts',
      'delivery-metrics.ts',
      'deploy-with-rollback.ts',
      'local-zero-downtime.ts',
      'property-of-a-deploy.ts',
      'quick-start.ts',
      'telemetry.ts',
      'test-your-steps.ts',
      'time-in-deploys.ts',
      'worker-operations.ts',
      'workers.ts',
      'writing-steps.ts',
    ]);
  });

  it('delivery-metrics prints the DORA keys of a week with one failed deploy', async () => {
    const { stdout } = await run(tsx, ['examples/delivery-metrics.ts'], { cwd: root });
    expect(stdout.trim().split('\n')).toEqual([
      'deploys per week: 2',
      'change failure rate: 0.3333333333333333',
      'time to restore (p50): 22 min',
      'lead time p95: 10 min',
      'failures by code: [{"name":"E_HEALTH","count":1}]',
    ]);
  });

  it('time-in-deploys sums the minutes each app spent in deploys this month', async () => {
    const { stdout } = await run(tsx, ['examples/time-in-deploys.ts'], { cwd: root });
    expect(stdout.trim().split('\n')).toEqual([
      '2026-03/production/api: 1 deploys (0 failed), 3 min',
      '2026-03/production/web: 2 deploys (1 failed), 10 min',
    ]);
  });

  it('deploy-with-rollback rolls back and reports the migration it could not undo', async () => {
    const { stdout } = await run(tsx, ['examples/deploy-with-rollback.ts'], { cwd: root });
    const lines = stdout.trim().split('\n');
    expect(stdout).toContain('failing over to quay.io');
    expect(stdout).toContain("Undoing step 'start containers'");
    expect(lines.at(-2)).toMatch(
      /Rollback failed: these changes could not be undone: 'before_release' \(irreversible\)\.$/,
    );
    expect(lines.at(-1)).toBe(
      'world after rollback: {"serving":"v1","containers":["web-v1"],"schema":2}',
    );
  });

  it('test-your-steps verifies correct steps and catches the broken undo with a shrunk plan', async () => {
    const { stdout } = await run(tsx, ['examples/test-your-steps.ts'], { cwd: root });
    expect(stdout).toContain('correct steps: rollback verified in 200 runs');
    expect(stdout).toContain(
      "broken undo caught: the rollback reported 'succeeded' but the world is not what it was before the operation",
    );
    expect(stdout).toContain('smallest fault plan: {"failAt":3}');
  });

  it('telemetry wires the Node SDK: the deploy continues the request trace, with its spans and metrics', async () => {
    const { stdout } = await run(tsx, ['examples/telemetry.ts'], { cwd: root });
    const lines = stdout.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual([
      'succeeded',
      'opledger deploy continues POST /apps/web/deploys: true',
    ]);
    expect(lines.slice(2, 5).sort()).toEqual([
      '  step pull image (docker.io): failed',
      '  step pull image (quay.io): succeeded',
      '  step start (-): succeeded',
    ]);
    expect(lines[5]).toBe('  events: opledger.started, opledger.failover, opledger.succeeded');
    expect(lines[6]).toContain('opledger.operations.ended');
    expect(lines[6]).toContain('opledger.steps.failed_over');
  });

  it('quick-start (the README) undoes start and names the migration it could not undo', async () => {
    const { stdout } = await run(tsx, ['examples/quick-start.ts'], { cwd: root });
    const lines = stdout.trim().split('\n');
    expect(stdout).toContain("Step 'health check' failed on attempt 3");
    expect(lines.at(-2)).toMatch(
      /failed at step 'health check'.*Rollback failed: these changes could not be undone: 'migrate' \(irreversible\)\.$/,
    );
    expect(lines.at(-1)).toBe('world after rollback: {"schema":2,"running":["web:v1"]}');
  });

  it('writing-steps fails over at once on a non-retryable error and undoes the pull', async () => {
    const { stdout } = await run(tsx, ['examples/writing-steps.ts'], { cwd: root });
    expect(stdout).toMatch(
      /failed on attempt 2 with provider docker-hub: 401; failing over to quay/,
    );
    expect(stdout).toContain('backoff slept on the virtual clock: [1000]');
    expect(stdout).toContain('images left after the rollback: []');
    expect(stdout).toContain('typed deploy: succeeded, running ["web:v2#0","web:v2#1"]');
    // The hung copy times out on its heartbeat and the retry resumes from its last details.
    expect(stdout).toContain('timed out: no heartbeat for 5000 ms');
    expect(stdout.match(/copied (a|b|c)\.tar/g)).toEqual([
      'copied a.tar',
      'copied b.tar',
      'copied c.tar',
    ]);
    expect(stdout).toContain('copy files: succeeded');
  });

  it('activity-report prints a log and a CSV that keeps the deleted app', async () => {
    const { stdout } = await run(tsx, ['examples/activity-report.ts'], { cwd: root });
    expect(stdout).toMatch(/INFO {2}Operation succeeded\n/);
    const csv = stdout.slice(stdout.indexOf('operation_id,')).trim().split('\r\n');
    expect(csv).toHaveLength(3);
    expect(csv.slice(1).every((row) => row.includes(',production,app,web,true,'))).toBe(true);
  });

  it('dashboard serves each actor only the environments it may see', async () => {
    const { stdout } = await run(tsx, ['examples/dashboard.ts'], { cwd: root });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe("ada sees [ 'production', 'staging' ]");
    expect(lines[1]).toBe("bob sees [ 'staging' ]");
    expect(lines.slice(2).join('\n')).toMatch(/^403 \{\n\s+error: \{\n\s+code: 'ACCESS_DENIED'/);
  });

  it('property-of-a-deploy holds for generated requests and cloud faults', async () => {
    const { stdout } = await run(tsx, ['examples/property-of-a-deploy.ts'], { cwd: root });
    expect(stdout.trim()).toBe('deploy: zero downtime and one release in 50 runs');
  });

  it('local-zero-downtime deploys on real processes under load without one failed request', async () => {
    const { stdout } = await run(tsx, ['examples/local-zero-downtime.ts'], { cwd: root });
    const [summary, counts] = stdout.trim().split('\n');
    expect(summary).toMatch(/^Operation app\.deploy \S+ on app web succeeded\.$/);
    const [, requests, served, errors] =
      /^(\d+) requests, (\d+) served, (\d+) errors$/.exec(counts ?? '')?.map(Number) ?? [];
    expect(requests).toBeGreaterThan(0);
    expect(served).toBe(requests);
    expect(errors).toBe(0);
  });

  it("workers runs a client's operations on a worker process, which stops on SIGTERM with its lease released", async () => {
    const { stdout } = await run(tsx, ['examples/workers.ts'], { cwd: root });
    const lines = stdout.trim().split('\n');
    expect(lines.slice(0, 3)).toEqual(
      ['web', 'api', 'admin'].map((handle) =>
        expect.stringMatching(new RegExp(`^Operation deploy \\S+ on app ${handle} succeeded\\.$`)),
      ),
    );
    expect(lines.slice(3)).toEqual([
      'Claimed by worker worker-1',
      'worker exited with 0',
      'worker-1: stopped, claimed 3 operations',
    ]);
  });
});
