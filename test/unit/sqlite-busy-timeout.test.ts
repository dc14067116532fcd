/**
 * The write lock's busy timeout (issue 17): BEGIN IMMEDIATE is tried with the timeout at 0, and
 * with keepTimeoutLowered the connection stays at 0 between writes until restoreBusyTimeout
 * gives it back, which the event store calls before every read of its own connection.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Connection } from '../../src/adapters/sqlite/driver.js';
import { restoreBusyTimeout, writeTransaction } from '../../src/adapters/sqlite/write-lock.js';

const OWN_TIMEOUT = 4_321;
let folder: string;
let db: Connection;
let other: Connection;

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'opledger-busy-timeout-'));
  const path = join(folder, 'lock.db');
  db = openDatabase(path, { busyTimeoutMs: OWN_TIMEOUT, synchronous: 'normal' });
  db.exec('CREATE TABLE t (n INTEGER)');
  other = openDatabase(path, { busyTimeoutMs: OWN_TIMEOUT, synchronous: 'normal' });
});

afterEach(async () => {
  db.close();
  other.close();
  await rm(folder, { recursive: true, force: true });
});

const timeoutOf = (connection: Connection) =>
  Number(connection.pragma('busy_timeout', { simple: true }));

const write = (keepTimeoutLowered: boolean, busyTimeoutMs = OWN_TIMEOUT) =>
  writeTransaction(db, { busyTimeoutMs, ensureOpen: () => undefined, keepTimeoutLowered }, () =>
    db.prepare('INSERT INTO t VALUES (1)').run(),
  );

describe('the write lock and the busy timeout', () => {
  it('gives the connection its own timeout back after each write by default', async () => {
    await write(false);
    expect(timeoutOf(db)).toBe(OWN_TIMEOUT);
  });

  it('with keepTimeoutLowered, leaves it at 0 until restoreBusyTimeout', async () => {
    await write(true);
    expect(timeoutOf(db)).toBe(0);
    restoreBusyTimeout(db);
    expect(timeoutOf(db)).toBe(OWN_TIMEOUT);
    restoreBusyTimeout(db);
    expect(timeoutOf(db)).toBe(OWN_TIMEOUT);
  });

  it('with the timeout kept at 0, a write still waits for another connection’s lock', async () => {
    await write(true);
    other.prepare('BEGIN IMMEDIATE').run();
    const pending = write(true);
    setTimeout(() => other.prepare('COMMIT').run(), 30);
    await pending;
    expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 2 });
  });

  it('property: any mix of writes and restores ends with the own timeout after a restore', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('keep', 'restore', 'plain'), { maxLength: 12 }),
        async (steps) => {
          for (const step of steps) {
            if (step === 'restore') restoreBusyTimeout(db);
            else await write(step === 'keep');
            // Lowered only by a keeping write, and never anything but 0 or the connection's own.
            expect([0, OWN_TIMEOUT]).toContain(timeoutOf(db));
            if (step !== 'keep') expect(timeoutOf(db)).toBe(OWN_TIMEOUT);
          }
          restoreBusyTimeout(db);
          expect(timeoutOf(db)).toBe(OWN_TIMEOUT);
        },
      ),
      { numRuns: 50 },
    );
  });
});
