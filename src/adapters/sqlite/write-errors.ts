import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { StoreFileReadOnlyError, StoreFullError } from './errors.js';

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
};

const writable = (path: string): boolean => {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

/** The first of the file, its -wal file and its folder that may not be written, if any. */
const notWritable = (file: string): string | undefined =>
  [file, `${file}-wal`, dirname(file)].find((p) => existsSync(p) && !writable(p));

/**
 * A write's failure as a typed error naming the file, when the file itself is the problem: full
 * (`SQLITE_FULL`), or refusing writes (`SQLITE_READONLY*`, or an I/O error on a file the system
 * no longer lets anyone write, root included: an immutable flag, a read-only mount). Any other
 * error is returned as it is.
 */
export const fileWriteError = (file: string | undefined, error: unknown): unknown => {
  const code = codeOf(error);
  if (!code || !file) return error;
  if (code === 'SQLITE_FULL') return new StoreFullError(file, error);
  if (code.startsWith('SQLITE_READONLY')) {
    return new StoreFileReadOnlyError(file, `${code}: ${(error as Error).message}`, error);
  }
  // An I/O error says nothing of why; the file's state does. access() is checked only now, on
  // the failure path, so appends pay nothing for it.
  if (code.startsWith('SQLITE_IOERR')) {
    const refused = notWritable(file);
    if (refused) {
      return new StoreFileReadOnlyError(
        file,
        `${code}: ${refused === file ? 'the file' : refused === dirname(file) ? 'its folder' : 'its -wal file'} may not be written`,
        error,
      );
    }
  }
  return error;
};
