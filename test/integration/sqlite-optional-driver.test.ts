import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

describe('better-sqlite3, an optional peer dependency', () => {
  it('is loaded only when a SQLite store is opened, never by importing opledger', async () => {
    const { stdout } = await run(
      join(root, 'node_modules', '.bin', 'tsx'),
      [join(import.meta.dirname, 'fixtures', 'sqlite-driver-loading.ts')],
      { cwd: root, timeout: 20_000 },
    );
    expect(JSON.parse(stdout)).toEqual({
      afterCore: false,
      afterAdapterImport: false,
      afterCreate: true,
    });
  });
});
