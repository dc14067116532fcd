import { spawn } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli, tempWorkdir } from './run-cli.js';

/** What npm puts in the environment of a command that `npx opledger ...` runs. */
const UNDER_NPX = { npm_command: 'exec', npm_lifecycle_event: 'npx' };

describe('commands the CLI suggests are typed as the user typed opledger', () => {
  const work = tempWorkdir('operator-npx');
  afterAll(() => work.remove());

  it('under npx, the demo\'s "Try next" lines, the hints and --help say npx opledger', async () => {
    const demo = await runCli(['demo', '--speed', 'max'], { cwd: work.dir, env: UNDER_NPX });
    expect(demo.code).toBe(0);
    const next = demo.stdout.slice(demo.stdout.indexOf('Try next:'));
    const lines = next.trimEnd().split('\n').slice(1);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) expect(line).toMatch(/^ {2}npx opledger [a-z]/);

    const help = await runCli(['--help'], { cwd: work.dir, env: UNDER_NPX });
    expect(help.stdout).toMatch(/^Usage: npx opledger \[options\] \[command\]/);
    const missing = await runCli(['operation:logs', 'nope'], { cwd: work.dir, env: UNDER_NPX });
    expect(missing.stderr).toMatch(/^Hint: list the operations with: npx opledger operations/m);
    const usage = await runCli(['operations'], { cwd: work.dir, env: UNDER_NPX });
    expect(usage.stderr).toContain('(run npx opledger --help for usage)');
  }, 60_000);

  it('otherwise (installed, or from a package.json script) they say opledger', async () => {
    const script = { npm_command: 'run-script', npm_lifecycle_event: 'ops' };
    const help = await runCli(['--help'], { cwd: work.dir, env: script });
    expect(help.stdout).toMatch(/^Usage: opledger \[options\] \[command\]/);
    const missing = await runCli(['operation:logs', 'nope'], { cwd: work.dir });
    expect(missing.stderr).toMatch(/^Hint: list the operations with: opledger operations/m);
  });
});

describe('an operation of a deprovisioned environment', () => {
  const work = tempWorkdir('operator-purged');
  afterAll(() => work.remove());
  const cli = (...args: string[]) => runCli(args, { cwd: work.dir });

  it('operation:logs says it was purged with its environment, and how to read it still', async () => {
    await cli('run', 'environment.provision', '--env', 'p', '--resource', 'environment:p');
    const provision = await cli('run', 'app.provision', '--env', 'p', '--resource', 'app:web');
    const id = /Operation (\S+) started/.exec(provision.stderr)?.[1] ?? '';
    expect(id).not.toBe('');
    // An environment with an app in it may not be deprovisioned: the app goes first.
    const appGone = await cli('run', 'app.deprovision', '--env', 'p', '--resource', 'app:web');
    expect(appGone.code).toBe(0);
    const gone = await cli(
      'run',
      'environment.deprovision',
      '--env',
      'p',
      '--resource',
      'environment:p',
    );
    expect(gone.code).toBe(0);

    const logs = await cli('operation:logs', id);
    expect(logs.code).toBe(2);
    expect(logs.stderr).toMatch(
      new RegExp(
        `^Error: Operation ${id} belonged to environment 'p', which was deprovisioned at \\S+: its records .* were purged from the read models`,
        'm',
      ),
    );
    expect(logs.stderr).toContain(
      `Its events are still in the event store (stream 'operation-${id}')`,
    );
    expect(logs.stderr).toContain(
      `Hint: its log can still be printed from its events: opledger operation:follow ${id}`,
    );
    // What the hint says works.
    const follow = await cli('operation:follow', id);
    expect(follow.code).toBe(0);
    expect(follow.stdout).toMatch(/Operation app\.provision requested by/);
    // An id that never was is still plainly unknown.
    const unknown = await cli('operation:logs', 'nope');
    expect(unknown.stderr).toMatch(/^Error: Operation nope does not exist in this store/m);
  }, 60_000);
});

describe('a stored event the read models cannot read', () => {
  const work = tempWorkdir('operator-skip');
  afterAll(() => work.remove());
  const cli = (...args: string[]) => runCli(args, { cwd: work.dir });

  it('stops every read with a hint for its kind; projections:skip passes over it on record, and a rebuild does too', async () => {
    await cli('run', 'environment.provision', '--env', 'p', '--resource', 'environment:p');
    const provision = await cli('run', 'app.provision', '--env', 'p', '--resource', 'app:web');
    const id = /Operation (\S+) started/.exec(provision.stderr)?.[1] ?? '';
    const db = new Database(join(work.dir, '.opledger', 'opledger.db'));
    const position = db
      .prepare("SELECT position FROM opledger_events WHERE stream = ? AND type = 'StepStarted'")
      .pluck()
      .get(`operation-${id}`) as number;
    db.prepare('UPDATE opledger_events SET data = ? WHERE position = ?').run('{"at": "2', position);
    db.close();

    const stuck = await cli('operations', '--env', 'p');
    expect(stuck.code).toBe(1);
    expect(stuck.stderr).toMatch(
      new RegExp(`^Error: Stored event at position ${position} .*its data is not valid JSON`, 'm'),
    );
    expect(stuck.stderr).not.toMatch(/upcaster/i);
    expect(stuck.stderr).toContain(
      `Hint: repair the stored event; if it cannot be repaired, let the read models pass over it, on record: opledger projections:skip --position ${position} --user EMAIL --reason "..."`,
    );

    const elsewhere = await cli(
      'projections:skip',
      '--position',
      String(position + 1),
      '--user',
      'ops@example.com',
      '--reason',
      'x',
    );
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain(`stop at position ${position}, not ${position + 1}`);
    const unsaid = await cli(
      'projections:skip',
      '--position',
      String(position),
      '--user',
      'ops@example.com',
    );
    expect(unsaid.code).toBe(2);
    expect(unsaid.stderr).toMatch(/required option '--reason <text>' not specified/);

    const skip = await cli(
      'projections:skip',
      '--position',
      String(position),
      '--user',
      'ops@example.com',
      '--reason',
      'cut by a disk fault; no copy to repair it from',
    );
    expect(skip.stderr).toBe('');
    expect(skip.code).toBe(0);
    expect(skip.stdout).toMatch(
      new RegExp(
        `^Skipped the event at position ${position} \\(stream 'operation-${id}', revision \\d+\\): skipped by ops@example.com at \\S+Z, because: cut by a disk fault; no copy to repair it from$`,
        'm',
      ),
    );
    expect(skip.stdout).toContain('a rebuild skips it the same way');

    const listed = await cli('operations', '--env', 'p', '--json');
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { total: number }).total).toBe(2);
    const rebuilt = await cli('projections:rebuild');
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stderr).toMatch(
      new RegExp(`^Skipped the event at position ${position} .*skipped by ops@example.com`, 'm'),
    );
    const json = await cli('projections:rebuild', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({
      skipped: [
        { position: String(position), user: 'ops@example.com', code: 'INVALID_STORED_EVENT' },
      ],
    });
    expect((await cli('operation:logs', id)).code).toBe(0);
  }, 60_000);
});

describe('a read-only SQLite file (a copy of production, a mounted backup)', () => {
  const work = tempWorkdir('operator-readonly');
  const folder = join(work.dir, '.opledger');
  const file = join(folder, 'opledger.db');
  afterAll(() => {
    chmodSync(folder, 0o755);
    work.remove();
  });
  const cli = (args: string[], uid?: number) =>
    runCli(args, { cwd: work.dir, ...(uid === undefined ? {} : { uid }) });
  const NOBODY = 65_534;
  const asRoot = process.getuid?.() === 0;
  let id = '';

  it('is read by the read commands, as any user (root included), without a byte written', async () => {
    await cli(['run', 'environment.provision', '--env', 'p', '--resource', 'environment:p']);
    const provision = await cli(['run', 'app.provision', '--env', 'p', '--resource', 'app:web']);
    id = /Operation (\S+) started/.exec(provision.stderr)?.[1] ?? '';
    const before = await cli(['operations', '--env', 'p', '--json']);
    expect(before.code).toBe(0);
    // As a backup is kept: nobody may write the file nor its folder (the folder of a test
    // workdir is the user's own, so others may enter it).
    chmodSync(work.dir, 0o755);
    chmodSync(file, 0o444);
    chmodSync(folder, 0o555);
    const bytes = readFileSync(file);
    const files = readdirSync(folder).sort();

    for (const uid of asRoot ? [undefined, NOBODY] : [undefined]) {
      const listed = await cli(['operations', '--env', 'p', '--json'], uid);
      expect(listed.stderr).toBe('');
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual(JSON.parse(before.stdout));
      const logs = await cli(['operation:logs', id], uid);
      expect(logs.code).toBe(0);
      expect(logs.stdout).toMatch(/Operation succeeded/);
      expect((await cli(['activity-reports', '--env', 'p'], uid)).code).toBe(0);
      expect((await cli(['operation:follow', id], uid)).code).toBe(0);
    }
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(readdirSync(folder).sort()).toEqual(files);
  }, 90_000);

  it('refuses a command that writes at once, saying it writes and how to go on', async () => {
    for (const args of [
      ['operation:cancel', id],
      ['projections:rebuild'],
      ['run', 'app.deploy', '--env', 'p', '--resource', 'app:web', '--param', 'image=web:v2'],
    ]) {
      const refused = await cli(args);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        `Error: the store sqlite:.opledger/opledger.db is read-only (the file's mode is r--r--r--), and ${args[0]} writes to it`,
      );
      expect(refused.stderr).toMatch(/^Hint: run it on a writable copy: cp /m);
      expect(refused.stderr).not.toMatch(/attempt to write a readonly database/);
    }
  }, 60_000);

  it('says when its read models lag behind its events, since it cannot bring them up to date', async () => {
    chmodSync(folder, 0o755);
    chmodSync(file, 0o644);
    // Events written and not yet projected: a copy taken between a write and its projection.
    await cli([
      'run',
      'app.deploy',
      '--env',
      'p',
      '--resource',
      'app:web',
      '--param',
      'image=web:v2',
    ]);
    chmodSync(file, 0o444);
    chmodSync(folder, 0o555);
    const listed = await cli(['operations', '--env', 'p', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { total: number }).total).toBe(2);
    expect(listed.stderr).toMatch(
      /^Note: sqlite:\.opledger\/opledger\.db is read-only \(the file's mode is r--r--r--\), so its read models are read as they are: \d+ events behind its events, up to position \d+\. A writable copy/m,
    );
  }, 60_000);
});

describe('Ctrl-C under npx (docs/cli.md, exit codes)', () => {
  const work = tempWorkdir('operator-npx-signal');
  afterAll(() => work.remove());

  /** Starts a run through `command`, sends SIGINT to its whole process group as a terminal's Ctrl-C does once its first step has started, and waits for the exit. */
  const interrupt = (command: string, args: string[]) =>
    new Promise<{ code: number | null; signal: string | null; stderr: string }>(
      (resolve, reject) => {
        const child = spawn(
          command,
          [
            ...args,
            'run',
            'environment.provision',
            '--env',
            'p',
            '--resource',
            'environment:p',
            '--speed',
            '1',
          ],
          { cwd: work.dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stderr = '';
        let stdout = '';
        let sent = false;
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        // Ctrl-C once its first step has started (the log line comes from the stored event): a
        // change is under way, so the cancel rolls it back. Sent on the "started" line, the
        // signal can be handled before the first step (the SQLite store yields between appends),
        // and the provision then ends with nothing to roll back.
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (!sent && /Step 'register environment' started/.test(stdout)) {
            sent = true;
            process.kill(-(child.pid as number), 'SIGINT');
          }
        });
        child.on('error', reject);
        child.on('close', (code, signal) => resolve({ code, signal, stderr }));
      },
    );

  it("npm dies of the signal, so the caller sees SIGINT (130 in a shell), not opledger's exit 1; the installed binary exits 1", async () => {
    mkdirSync(join(work.dir, 'node_modules', '.bin'), { recursive: true });
    writeFileSync(
      join(work.dir, 'package.json'),
      '{ "name": "uses-opledger", "version": "1.0.0" }\n',
    );
    symlinkSync(CLI, join(work.dir, 'node_modules', '.bin', 'opledger'));

    const viaNpx = await interrupt('npx', ['--no', 'opledger']);
    expect(viaNpx).toMatchObject({ code: null, signal: 'SIGINT' });
    // opledger itself went on to cancel and roll back, as documented.
    expect(viaNpx.stderr).toMatch(/SIGINT: stopping/);

    const installed = await interrupt(join(work.dir, 'node_modules', '.bin', 'opledger'), []);
    expect(installed.stderr).toMatch(
      /was cancelled by .* at step 'register environment'\. Rollback succeeded/,
    );
    expect(installed).toMatchObject({ code: 1, signal: null });
  }, 60_000);
});
