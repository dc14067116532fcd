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
      'deploy-with-rollback.ts',
      'test-your-steps.ts',
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
});
