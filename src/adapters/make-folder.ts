import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Creates a folder and its missing parents, one level at a time. Not `mkdirSync(path,
 * { recursive: true })`: on Node 20 that never returns for a path under a folder that refuses
 * new entries with ENOENT (e.g. `/proc/x`), so `--store sqlite:/proc/x/db` hung; here the first
 * refusal is thrown.
 */
export const makeFolder = (path: string): void => {
  const missing: string[] = [];
  for (let folder = resolve(path); !existsSync(folder); folder = dirname(folder)) {
    missing.unshift(folder);
    if (dirname(folder) === folder) break;
  }
  for (const folder of missing) {
    try {
      mkdirSync(folder);
    } catch (error) {
      // Made meanwhile by another process: just as good.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
};
