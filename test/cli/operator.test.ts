import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempWorkdir } from './run-cli.js';

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
