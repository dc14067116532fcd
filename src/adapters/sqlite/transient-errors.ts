import { OpledgerError } from '../../domain/errors.js';
import { isBusy } from './driver.js';

/**
 * Whether a SQLite store's error is transient: the file stayed locked by another connection past
 * the store's busy timeout (`STORE_BUSY`, or a raw `SQLITE_BUSY*` from the driver). Whoever holds
 * the lock finishes in the end, so the engine waits it out (createEngine's storeOutage). A full
 * disk, a read-only file or a damaged one is not transient.
 *
 * @example
 * ```ts
 * isTransientSqliteError(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })); // true
 * isTransientSqliteError(Object.assign(new Error('disk full'), { code: 'SQLITE_FULL' })); // false
 * ```
 */
export const isTransientSqliteError = (error: unknown): boolean =>
  (error instanceof OpledgerError && error.code === 'STORE_BUSY') || isBusy(error);
