import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/adapters/create-store.js';
import { createEngine, defineOperation, step } from '../../src/index.js';
import { createVirtualClock } from '../../src/testing/index.js';
import { runCli, tempWorkdir } from './run-cli.js';

const MIN = 60_000;
const work = tempWorkdir('metrics');
const url = `sqlite:${join(work.dir, 'opledger.db')}`;
const range = ['--from', '2026-03-02', '--to', '2026-03-09'];
const cli = (...args: string[]) => runCli(['--store', url, ...args], { cwd: work.dir });

describe('opledger metrics', () => {
  beforeAll(async () => {
    // web: ok (4 min), failed at 10:10, ok at 10:32; api: failed. As in docs/metrics.md.
    const stores = await createStore(url);
    const clock = createVirtualClock('2026-03-02T09:00:00.000Z');
    const deploy = defineOperation<{ minutes: number; fail?: boolean }>({
      type: 'app.deploy',
      steps: [
        step({
          name: 'health check',
          kind: 'no_side_effects',
          run: ({ params }) => {
            clock.advance(params.minutes * MIN);
            if (params.fail) throw Object.assign(new Error('unhealthy'), { code: 'E_HEALTH' });
          },
        }),
      ],
    });
    const engine = createEngine({ store: stores.eventStore, clock, operations: [deploy] });
    const run = async (handle: string, params: { minutes: number; fail?: boolean }) =>
      (
        await engine.start({
          type: 'app.deploy',
          environment: 'production',
          resource: { type: 'app', handle },
          user: 'ada@example.com',
          params,
        })
      ).result;
    await run('web', { minutes: 4 });
    clock.advance(56 * MIN);
    await run('web', { minutes: 10, fail: true });
    clock.advance(20 * MIN);
    await run('web', { minutes: 2 });
    await run('api', { minutes: 6, fail: true });
    // The next ISO week (2026-W11), for --weekly: one deploy of web taking 3 minutes.
    clock.advance(7 * 24 * 60 * MIN);
    await run('web', { minutes: 3 });
    await stores.close();
  });
  afterAll(() => work.remove());

  it('prints the metrics as JSON, per environment and per app', async () => {
    const all = await cli('metrics', '--env', 'production', ...range, '--json');
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    const m = JSON.parse(all.stdout) as Record<string, unknown>;
    expect(m).toMatchObject({
      environment: 'production',
      from: '2026-03-02T00:00:00.000Z',
      to: '2026-03-09T00:00:00.000Z',
      deploymentFrequency: { deploys: 2, perWeek: 2 },
      changeFailureRate: { deploys: 4, failed: 2, rate: 0.5 },
      timeToRestore: { failures: 2, restored: 1, p50Ms: 22 * MIN },
      failureCauses: { byErrorCode: [{ name: 'E_HEALTH', count: 2 }] },
    });
    const api = await cli('metrics', '--env', 'production', '--app', 'api', ...range, '--json');
    expect(JSON.parse(api.stdout)).toMatchObject({
      app: 'api',
      changeFailureRate: { deploys: 1, failed: 1, rate: 1 },
    });
  });

  it('prints a table, and writes the same rows as CSV', async () => {
    const table = await cli('metrics', '--env', 'production', ...range);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^change_failure_rate\s+0\.5$/m);
    expect(table.stdout).toMatch(/^time_to_restore_p50_seconds\s+1320$/m);
    expect(table.stdout).toMatch(/^failures_by_error_code\s+E_HEALTH\s+2$/m);
    const out = join(work.dir, 'reports', 'metrics.csv');
    const written = await cli('metrics', '--env', 'production', ...range, '--out', out);
    expect(written.code).toBe(0);
    const rows = parse(readFileSync(out, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows).toContainEqual({ metric: 'deploys_per_week', about: '', value: '2' });
    expect(rows).toContainEqual({
      metric: 'lead_time_p95_seconds',
      about: 'app.deploy',
      value: '600',
    });
  });

  it('prints lead time per type week by week (--weekly), as a table, JSON and CSV', async () => {
    const weeks = ['--from', '2026-03-02', '--to', '2026-03-16', '--weekly'];
    const json = await cli('metrics', '--env', 'production', ...weeks, '--json');
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as {
      week: string;
      metrics: { leadTime: Record<string, { count: number; p50Ms?: number; p95Ms?: number }> };
    }[];
    // W10: 2, 4, 6 and 10 minutes, nearest-rank p50 4 and p95 10; W11: the one of 3 minutes.
    expect(parsed.map((w) => [w.week, w.metrics.leadTime['app.deploy']])).toEqual([
      ['2026-W10', { count: 4, p50Ms: 4 * MIN, p95Ms: 10 * MIN }],
      ['2026-W11', { count: 1, p50Ms: 3 * MIN, p95Ms: 3 * MIN }],
    ]);
    const table = await cli('metrics', '--env', 'production', ...weeks);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^WEEK +METRIC +ABOUT +VALUE$/m);
    expect(table.stdout).toMatch(/^2026-W10\s+lead_time_p95_seconds\s+app\.deploy\s+600$/m);
    expect(table.stdout).toMatch(/^2026-W11\s+lead_time_p50_seconds\s+app\.deploy\s+180$/m);
    const out = join(work.dir, 'reports', 'weekly.csv');
    expect((await cli('metrics', '--env', 'production', ...weeks, '--out', out)).code).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text.split('\r\n')[0]).toBe('week,metric,about,value');
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(rows).toContainEqual({
      week: '2026-W11',
      metric: 'lead_time_p95_seconds',
      about: 'app.deploy',
      value: '180',
    });
    expect(rows.filter((r) => r.metric === 'deploys')).toEqual([
      { week: '2026-W10', metric: 'deploys', about: '', value: '2' },
      { week: '2026-W11', metric: 'deploys', about: '', value: '1' },
    ]);
  });

  it('refuses half a range', async () => {
    const run = await cli('metrics', '--env', 'production', '--from', '2026-03-02');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('a range needs both --from and --to');
  });
});
