import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('bench/RESULTS.md', () => {
  const out = mkdtempSync(join(tmpdir(), 'opledger-bench-render-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  // RESULTS.md is written by the harness from results.json and NOTES.md: a section added to
  // RESULTS.md alone would be lost at the next `npm run bench`, so the two must agree.
  it('is what the harness renders from bench/results.json and bench/NOTES.md', async () => {
    copyFileSync('bench/results.json', join(out, 'results.json'));
    await run('npx', ['tsx', 'bench/run.ts', '--render', '--out', out]);
    expect(readFileSync(join(out, 'RESULTS.md'), 'utf8')).toBe(
      readFileSync('bench/RESULTS.md', 'utf8'),
    );
  });
});
