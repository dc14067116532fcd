import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HISTORY_WEEKS,
  historyStart,
  PAST_OPERATIONS,
} from '../../src/cli/commands/demo-history.js';
import { ACTIVITY_REPORT_COLUMNS, isoWeekOf } from '../../src/projections/index.js';
import { runCli, tempWorkdir, type CliRun } from './run-cli.js';

const packageVersion = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

interface OperationJson {
  id: string;
  type: string;
  status: string;
  rollback: string;
  cancelled: boolean;
  resource: { type: string; handle: string };
  notUndone: { step: string; reason: string }[];
  createdAt: string;
}

describe('opledger CLI: the demo and the read commands on the default SQLite store', () => {
  const work = tempWorkdir('cli');
  const cli = (...args: string[]) => runCli(args, { cwd: work.dir });
  let demo: CliRun;
  let operations: OperationJson[];

  beforeAll(async () => {
    demo = await cli('demo');
    const listed = await cli('operations', '--env', 'demo', '--json');
    operations = (JSON.parse(listed.stdout) as { items: OperationJson[] }).items;
  }, 60_000);
  afterAll(() => work.remove());

  it('runs the demo: each scene ends as it should, and the week report is written', () => {
    expect(demo.stderr).toBe('');
    expect(demo.code).toBe(0);
    const out = demo.stdout;
    // The failed health check: rolled back, the migration named as not undoable, in words.
    expect(out).toMatch(
      /Rollback failed: these changes could not be undone: 'before_release' \(irreversible\)/,
    );
    // The Docker Hub outage: the pull fails over to Quay.io.
    expect(out).toMatch(/\[pull image\].*registry:docker-hub/);
    expect(out).toMatch(/Pulled web:v3 from quay/);
    // The cancelled deploy rolls back and says so.
    expect(out).toMatch(/-- ada@example.com cancels operation \S+/);
    expect(out).toMatch(/was cancelled by ada@example.com.*Rollback succeeded/);
    const downtime = /Measured downtime of database main: ([\d.]+) s/.exec(out);
    expect(downtime).not.toBeNull();
    const seconds = Number(downtime?.[1]);
    expect(seconds).toBeGreaterThan(0);
    // Stop + unmount + detach + attach + mount + start on the simulated cloud's durations.
    expect(seconds).toBeLessThan(60);
    expect(out).toMatch(/Try next:\n {2}opledger operations --env demo/);
  });

  it('lists the operations of the demo with their outcomes', () => {
    // The nine scenes of this run are the newest operations; its history comes before them.
    const scenes = operations.slice(0, 9);
    const types = scenes.map((o) => o.type).reverse();
    expect(types).toEqual([
      'environment.provision',
      'app.provision',
      'database.provision',
      'app.deploy',
      'app.deploy',
      'app.deploy',
      'database.redeploy',
      'app.deploy',
      'app.deprovision',
    ]);
    const outcomes = scenes
      .map((o) => `${o.status}/${o.rollback}${o.cancelled ? '/cancelled' : ''}`)
      .reverse();
    expect(outcomes).toEqual([
      'succeeded/none',
      'succeeded/none',
      'succeeded/none',
      'succeeded/none',
      'failed/failed',
      'succeeded/none',
      'succeeded/none',
      'failed/succeeded/cancelled',
      'succeeded/none',
    ]);
  });

  it('writes, on its first run in the environment, six weeks of history before this week', () => {
    const history = operations.slice(9).reverse();
    expect(history).toHaveLength(PAST_OPERATIONS.length);
    // Oldest first, on the apps of the history, each ended as planned.
    expect(history.map((o) => [o.type, o.resource.handle])).toEqual(
      PAST_OPERATIONS.map((p) => [p.type, p.handle ?? 'demo']),
    );
    expect(
      history.map((o) =>
        o.cancelled ? 'cancelled' : o.status === 'succeeded' ? o.status : 'failed',
      ),
    ).toEqual(PAST_OPERATIONS.map((p) => p.outcome));
    // In the six ISO weeks before the demo's week, at the planned times.
    // Seconds before the first scene (its environment.provision), which runs at the present.
    const start = historyStart(new Date(operations[8]?.createdAt ?? ''));
    const weekOfDemo = start.getTime() + HISTORY_WEEKS * 7 * 86_400_000;
    for (const op of history) {
      expect(Date.parse(op.createdAt)).toBeGreaterThanOrEqual(start.getTime());
      expect(Date.parse(op.createdAt)).toBeLessThan(weekOfDemo);
    }
    expect(history[0]?.createdAt).toBe(new Date(start.getTime() + 9 * 3_600_000).toISOString());
    const weeks = new Set(history.map((o) => isoWeekOf(o.createdAt)));
    expect(weeks.size).toBe(HISTORY_WEEKS);
    expect(demo.stdout).toMatch(
      /^-> 31 operations from \d{4}-\d\d-\d\d: 26 succeeded, 4 failed, 1 cancelled$/m,
    );
    // The history comes before the scenes, which start from the present.
    expect(demo.stdout.indexOf('== History')).toBeLessThan(demo.stdout.indexOf('== 1. '));
  });

  it('prints the operations as a table by default', async () => {
    const run = await cli('operations', '--env', 'demo', '--resource', 'web', '--limit', '2');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID +TYPE +RESOURCE +STATUS +ROLLBACK +USER +CREATED$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/app\.deprovision +app:web +succeeded/);
    expect(run.stderr).toMatch(/Operations 1-2 of 6; next page: --offset 2/);
  });

  it('shows a whole log as text, ending with the verdict, and as JSON', async () => {
    const failed = operations.find((o) => o.rollback === 'failed') as OperationJson;
    const text = await cli('operation:logs', failed.id);
    expect(text.code).toBe(0);
    expect(text.stdout.trimEnd().split('\n').at(-1)).toMatch(
      /Rollback failed: these changes could not be undone: 'before_release' \(irreversible\)/,
    );
    const json = await cli('operation:logs', failed.id, '--json');
    const parsed = JSON.parse(json.stdout) as {
      operation: OperationJson;
      lines: { message: string }[];
    };
    expect(parsed.operation.id).toBe(failed.id);
    expect(parsed.lines.map((l) => l.message).join('\n')).toContain('health check');
  });

  it('follows an ended operation to its end: exit 0 when it succeeded, 1 when it failed', async () => {
    const ok = operations.find((o) => o.status === 'succeeded') as OperationJson;
    const failed = operations.find((o) => o.status === 'failed') as OperationJson;
    const followedOk = await cli('operation:follow', ok.id);
    expect(followedOk.code).toBe(0);
    expect(followedOk.stdout).toMatch(/Operation succeeded/);
    const followedFailed = await cli('operation:follow', failed.id, '--json');
    expect(followedFailed.code).toBe(1);
    const records = followedFailed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; status?: string });
    expect(records.at(-1)).toMatchObject({ kind: 'result', status: 'failed' });
    expect(records.slice(0, -1).every((r) => r.kind === 'log')).toBe(true);
  });

  it('lists the weekly reports and exports one as CSV, to stdout and to a file alike', async () => {
    const reports = await cli('activity-reports', '--env', 'demo', '--json');
    const weeks = JSON.parse(reports.stdout) as { week: string; operations: number }[];
    // Simulated time runs ahead: near the end of a week the demo can reach into the next one.
    expect(weeks.reduce((n, w) => n + w.operations, 0)).toBeGreaterThanOrEqual(9);
    const [week] = weeks;
    expect(week?.operations).toBeGreaterThanOrEqual(1);
    const stdout = await cli('activity-report', '--env', 'demo', '--week', week?.week ?? '');
    expect(stdout.code).toBe(0);
    const file = join(work.dir, 'reports', 'week.csv');
    const toFile = await cli(
      'activity-report',
      '--env',
      'demo',
      '--week',
      week?.week ?? '',
      '--out',
      file,
    );
    expect(toFile.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(stdout.stdout);
    // Not a terminal: plain progress lines, ending at 100%.
    expect(toFile.stderr).toMatch(/Exporting: \d+\/\d+ rows \(100%\)/);
    const rows = parse(stdout.stdout, { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0] ?? {})).toEqual([...ACTIVITY_REPORT_COLUMNS]);
    expect(rows).toHaveLength(week?.operations ?? -1);
    // The demo's own report file is the same report.
    const demoFile = /Wrote the activity report of demo for (\S+) to (\S+)/.exec(demo.stdout);
    expect(demoFile?.[1]).toBe(week?.week);
  });

  it('rebuilds the read models with plain progress lines when not on a terminal', async () => {
    const before = await cli('operations', '--env', 'demo', '--json');
    const run = await cli('projections:rebuild');
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/Rebuilding: \d+\/\d+ events \(100%\)/);
    const after = await cli('operations', '--env', 'demo', '--json');
    expect(JSON.parse(after.stdout)).toEqual(JSON.parse(before.stdout));
  });

  it('runs the demo again on the same store and cloud', async () => {
    const again = await cli('demo');
    expect(again.code).toBe(0);
    const listed = await cli('operations', '--env', 'demo', '--json');
    // Nine more scenes; the environment has a history already, so none is written again.
    expect((JSON.parse(listed.stdout) as { total: number }).total).toBe(
      18 + PAST_OPERATIONS.length,
    );
    expect(again.stdout).not.toContain('== History');
  }, 60_000);

  describe('errors say what was wrong and what to do, with exit code 2 for bad input', () => {
    // [case, arguments, what was wrong, what to do (null: commander's usage line)]
    const cases: [string, string[], RegExp, RegExp | null][] = [
      [
        'an unknown id',
        ['operation:logs', 'nope'],
        /Operation nope does not exist/,
        /opledger operations --env ENV.*--store/,
      ],
      [
        'an unknown id to follow',
        ['operation:follow', 'nope'],
        /Operation nope does not exist/,
        /--store/,
      ],
      [
        'a bad store URL',
        ['operations', '--env', 'demo', '--store', 'mysql://ada:pw1@x/db'],
        /'mysql:\/\/ada:\*\*\*@x\/db'.*Accepted forms/,
        /pass --store URL or set OPLEDGER_STORE/,
      ],
      [
        'a bad week',
        ['activity-report', '--env', 'demo', '--week', '2026-W60'],
        /not an ISO week/,
        /--week 2026-W48/,
      ],
      [
        'half a range',
        ['activity-report', '--env', 'demo', '--from', '2026-01-01'],
        /needs both --from and --to/,
        /--from 2026-11-01 --to 2026-12-01/,
      ],
      [
        'an unknown environment',
        ['activity-reports', '--env', 'nowhere'],
        /nowhere/,
        /opledger run environment\.provision --env ENV/,
      ],
      ['an unknown command', ['deploy'], /unknown command 'deploy'/, null],
      ['a missing option', ['operations'], /required option '--env <env>'/, null],
      [
        'a bad status',
        ['operations', '--env', 'demo', '--status', 'done'],
        /--status 'done' is not one of/,
        /--status failed/,
      ],
      [
        'an unknown resource',
        ['operations', '--env', 'demo', '--resource', 'app:nosuch'],
        /has no resource 'app:nosuch'/,
        /opledger operations --env demo/,
      ],
      [
        'a bad fault',
        ['run', 'app.deploy', '--env', 'demo', '--resource', 'app:web', '--fault', 'outage:dns'],
        /names no known service/,
        /outage:SERVICE\[@FROMs-TOs\]/,
      ],
      [
        'a bad resource',
        ['run', 'app.deploy', '--env', 'demo', '--resource', 'web'],
        /is not TYPE:HANDLE/,
        /--resource app:web/,
      ],
      [
        'a resource of another type',
        ['run', 'app.restart', '--env', 'demo', '--resource', 'database:main'],
        /app\.restart acts on app, not on database/,
        /--resource app:HANDLE/,
      ],
      [
        'a param naming another resource',
        ['run', 'app.restart', '--env', 'demo', '--resource', 'app:web', '--param', 'app=api'],
        /--param app=api is not the resource \(web\)/,
        /leave --param app out/,
      ],
      [
        'an environment resource of another environment',
        ['run', 'environment.provision', '--env', 'demo', '--resource', 'environment:prod'],
        /is not --env demo/,
        /--resource environment:demo/,
      ],
      [
        'an unknown operation type',
        ['run', 'app.explode', '--env', 'demo', '--resource', 'app:web'],
        /Unknown operation type 'app\.explode'/,
        /opledger run takes: environment\.provision, .*app\.deploy/,
      ],
      [
        'bad params',
        [
          'run',
          'app.scale',
          '--env',
          'demo',
          '--resource',
          'app:web',
          '--param',
          'containerCount=zero',
        ],
        /containerCount/,
        /--param KEY=VALUE; opledger's docs\/catalog\.md/,
      ],
      [
        'a colliding param',
        [
          'run',
          'app.deploy',
          '--env',
          'demo',
          '--resource',
          'app:web',
          '--param',
          'env=1',
          '--param',
          'env.A=2',
        ],
        /conflicts with another --param/,
        /give env one value/,
      ],
      [
        'JSON output of the demo',
        ['demo', '--json'],
        /the demo has no JSON output/,
        /opledger operations --env demo --json/,
      ],
    ];
    it.each(cases)('%s', async (_, args, message, hint) => {
      const run = await cli(...args);
      expect(run.stderr).toMatch(message);
      if (hint) expect(run.stderr).toMatch(new RegExp(`Hint: [\\s\\S]*${hint.source}`));
      else expect(run.stderr).toMatch(/\(run opledger --help for usage\)/);
      expect(run.code).toBe(2);
    });

    it('a cancel of a finished operation', async () => {
      const ended = operations[0] as OperationJson;
      const run = await cli('operation:cancel', ended.id);
      expect(run.stderr).toMatch(
        /has already ended \(succeeded\); there is nothing left to cancel/,
      );
      expect(run.stderr).toMatch(/Hint: read what happened with: opledger operation:logs ID/);
      expect(run.code).toBe(2);
    });

    it('an unreachable store exits 1 and names it, without its password', async () => {
      const run = await cli(
        'operations',
        '--env',
        'demo',
        '--store',
        'postgres://ada:secret@127.0.0.1:1/x',
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/cannot open the store postgres:\/\/ada:\*\*\*@127\.0\.0\.1:1\/x/);
      expect(run.stderr).not.toContain('secret');
      expect(run.stderr).toContain(
        'Cannot connect to the PostgreSQL server at 127.0.0.1:1/x (ECONNREFUSED)',
      );
      expect(run.stderr).toContain('Check that the server runs');
      expect(run.stderr).toContain(
        'Hint: if this is not the server you meant, pass another --store',
      );
    });

    it('a SQLite file in a folder that cannot be made exits 1 at once, saying why', async () => {
      // Node's recursive mkdir never returned for a folder under /proc: this run used to hang.
      const run = await cli('operations', '--env', 'demo', '--store', 'sqlite:/proc/opledger/x.db');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        "cannot open the store sqlite:/proc/opledger/x.db: ENOENT: no such file or directory, mkdir '/proc/opledger'",
      );
      expect(run.stderr).toContain('Hint: check that the folder can be created');
    });

    it('an --out in a folder that cannot be made exits at once, saying why', async () => {
      const run = await cli(
        'activity-report',
        '--env',
        'demo',
        '--week',
        '2026-W48',
        '--out',
        '/proc/opledger/report.csv',
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("ENOENT: no such file or directory, mkdir '/proc/opledger'");
    });
  });

  it('prints help and its version', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    for (const command of [
      'demo',
      'run',
      'operations',
      'operation:logs',
      'operation:follow',
      'operation:cancel',
      'activity-report',
      'activity-reports',
    ]) {
      expect(help.stdout).toContain(`  ${command} `);
    }
    const version = await cli('--version');
    expect(version.stdout.trim()).toBe(packageVersion);
  });
});
