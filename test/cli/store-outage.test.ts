import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli, tempWorkdir, watchOutput } from './run-cli.js';

/**
 * The store held locked by another process (a real SQLite write lock, past the store's 5 s busy
 * timeout): `opledger run` says that it waits for the store, then goes on when it is free.
 */
describe('opledger run while the event store is unavailable', () => {
  const work = tempWorkdir('cli-outage');
  afterAll(() => work.remove());
  const file = join(work.dir, '.opledger', 'opledger.db');

  /** Runs the CLI with the store's write lock held until it says it waits, then frees it. */
  const runLocked = async (
    args: string[],
    waiting: { stream: 'stdout' | 'stderr'; line: RegExp },
  ) => {
    const db = new Database(file);
    db.exec('BEGIN IMMEDIATE');
    try {
      const child = spawnCli(args, { cwd: work.dir });
      const output = watchOutput(child);
      await output.waitFor(waiting.stream, waiting.line, 60_000);
      db.exec('COMMIT');
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      return { code, ...output.text };
    } finally {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    }
  };

  const app = ['--env', 'prod', '--resource', 'app:web', '--speed', 'max'];

  beforeAll(async () => {
    const env = ['--env', 'prod', '--resource', 'environment:prod', '--speed', 'max'];
    expect((await runCli(['run', 'environment.provision', ...env], { cwd: work.dir })).code).toBe(
      0,
    );
    expect((await runCli(['run', 'app.provision', ...app], { cwd: work.dir })).code).toBe(0);
  }, 60_000);

  it('prints that it waits for the store, and goes on when it is back', async () => {
    const text = await runLocked(['run', 'app.deploy', ...app, '--param', 'image=web:v1'], {
      stream: 'stderr',
      line: /^Waiting for the event store at /,
    });
    expect(text.code).toBe(0);
    expect(text.stderr).toMatch(
      /Waiting for the event store at \S*opledger\.db: unreachable for \d+\.\d s so far \(.*locked.*\)\.\.\./,
    );
    expect(text.stderr).toMatch(
      /The event store at \S*opledger\.db is back after \d+\.\d s; going on\./,
    );
    expect(text.stderr).toMatch(/app\.deploy \S+ on app web succeeded/);
  }, 120_000);

  it('gives the waits as events with --json', async () => {
    const json = await runLocked(
      ['run', 'app.deploy', ...app, '--param', 'image=web:v2', '--json'],
      { stream: 'stdout', line: /"kind":"store_waiting"/ },
    );
    expect(json.code).toBe(0);
    const records = json.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const waiting = records.find((r) => r.kind === 'store_waiting');
    expect(waiting).toMatchObject({ host: expect.stringContaining('opledger.db') });
    expect(typeof waiting?.unreachableMs).toBe('number');
    expect(records.find((r) => r.kind === 'store_recovered')).toMatchObject({
      host: expect.stringContaining('opledger.db'),
    });
    expect(records.at(-1)).toMatchObject({ kind: 'result', status: 'succeeded' });
  }, 120_000);

  it('past the budget fails with STORE_UNAVAILABLE, and the next run rolls the operation back', async () => {
    const child = spawnCli(
      ['run', 'app.deploy', ...app.slice(0, -1), '1', '--param', 'image=web:v3'],
      { cwd: work.dir, env: { OPLEDGER_STORE_OUTAGE_MS: '500' } },
    );
    const output = watchOutput(child);
    await output.waitFor('stdout', /Step '.*' started/, 60_000);
    const db = new Database(file);
    db.exec('BEGIN IMMEDIATE');
    let code: number | null;
    try {
      code = await output.exited;
    } finally {
      db.exec('COMMIT');
      db.close();
    }
    expect(code).not.toBe(0);
    expect(output.text.stderr).toMatch(
      /STORE_UNAVAILABLE|was unreachable for \d+\.\d s, longer than/,
    );

    const next = await runCli(['run', 'app.restart', ...app], { cwd: work.dir });
    expect(next.stderr).toMatch(
      /Recovered an operation a stopped opledger process left: .*app\.deploy/,
    );
  }, 120_000);
});
