/**
 * A SQLite file that stops taking writes in the middle of a run, for real: full (SQLite's own
 * `max_page_count` limit, which fails exactly as a full disk does, with SQLITE_FULL), or made
 * immutable (`chattr +i`, which refuses writes to everyone, root included, even through the
 * connection's open file; a chmod would not, since the connection keeps its open files and the
 * tests run as root). Each is a typed error naming the file, is not waited out as an outage, and
 * loses nothing acknowledged: the file, opened again, holds every event whose append was
 * answered, and recover() ends the operation. A file already immutable when the store opens it
 * (a restart) is opened read-only by SQLite itself, and its appends fail the same way.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createSqliteEventStore,
  isTransientSqliteError,
  StoreFileReadOnlyError,
  StoreFullError,
} from '../../src/adapters/sqlite/index.js';
import {
  createEngine,
  defineOperation,
  step,
  type EventData,
  type EventStore,
  type StoreOutageNotice,
  type UndoContext,
} from '../../src/index.js';
import { request } from '../support/fixtures.js';

const folder = mkdtempSync(join(tmpdir(), 'opledger-sqlite-full-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

const chattr = (flag: '+i' | '-i', ...paths: string[]) =>
  execFileSync('chattr', [flag, ...paths], { stdio: 'pipe' });

/** Whether this machine lets the tests set the immutable flag here (root on ext4, xfs, ...). */
const immutableWorks = (() => {
  const probe = join(folder, 'probe');
  writeFileSync(probe, '');
  try {
    chattr('+i', probe);
  } catch {
    return false;
  }
  let refused = false;
  try {
    accessSync(probe, constants.W_OK);
  } catch {
    refused = true;
  }
  chattr('-i', probe);
  return refused;
})();

interface Acknowledged {
  stream: string;
  events: readonly EventData[];
  nextExpectedRevision: bigint;
  lastPosition: bigint;
}

/** The store as the engine sees it, keeping every append it answered and every failure. */
const recording = (store: EventStore) => {
  const acknowledged: Acknowledged[] = [];
  const failures: unknown[] = [];
  const spied: EventStore = {
    ...store,
    append: async (stream, events, options) => {
      try {
        const result = await store.append(stream, events, options);
        acknowledged.push({ stream, events, ...result });
        return result;
      } catch (error) {
        failures.push(error);
        throw error;
      }
    },
  };
  return { spied, acknowledged, failures };
};

/** Three undoable steps; `during` runs in the second, which returns an output of 256 KiB. */
const deployWith = (during: () => void) => {
  const undos: Array<{ step: string; outcome: UndoContext['outcome'] }> = [];
  const make = (name: string, run: () => unknown) =>
    step({
      name,
      run,
      undo: (ctx) => {
        undos.push({ step: name, outcome: ctx.outcome });
      },
    });
  const deploy = defineOperation({
    type: 'deploy',
    steps: [
      make('pull', () => ({ image: 'web:2' })),
      make('start', () => {
        during();
        return { manifest: 'x'.repeat(256 * 1024) };
      }),
      make('switch', () => ({ switched: true })),
    ],
  });
  return { deploy, undos };
};

/** Opens the file again and checks that every acknowledged event is there, where it was put. */
const expectAllAcknowledged = async (path: string, acknowledged: readonly Acknowledged[]) => {
  const store = createSqliteEventStore({ path });
  expect(acknowledged.length).toBeGreaterThan(0);
  for (const ack of acknowledged) {
    const first = ack.nextExpectedRevision - BigInt(ack.events.length) + 1n;
    const stored = await store.readStream(ack.stream, {
      from: first,
      maxCount: ack.events.length,
    });
    expect(stored.map((e) => ({ type: e.type, data: e.data }))).toEqual(
      ack.events.map((e) => ({ type: e.type, data: JSON.parse(JSON.stringify(e.data)) })),
    );
    if (stored.length > 0) expect(stored.at(-1)!.globalPosition).toBe(ack.lastPosition);
  }
  return store;
};

/** recover() in a new engine on the file as it is now: the operation rolls back cleanly. */
const expectRecovered = async (
  store: EventStore,
  id: string,
  deploy: ReturnType<typeof deployWith>,
) => {
  const events = await store.readStream(`operation-${id}`);
  expect(events.at(-1)?.type).toBe('StepStarted');
  const engine = createEngine({ store, operations: [deploy.deploy] });
  const [recovered] = await engine.recover();
  expect(recovered).toMatchObject({ id, status: 'failed', rollback: 'succeeded' });
  expect(deploy.undos).toEqual([
    { step: 'start', outcome: 'unknown' },
    { step: 'pull', outcome: 'succeeded' },
  ]);
  await engine.shutdown();
  await store.close();
};

describe('SQLite: a file that stops taking writes during a run', () => {
  it('full (SQLITE_FULL): STORE_FULL naming the file, not retried, nothing acknowledged lost', async () => {
    const path = join(folder, 'full.db');
    // max_page_count holds for one connection: the store is given that connection.
    const db = new Database(path);
    const raw = createSqliteEventStore({ database: db });
    const { spied, acknowledged, failures } = recording(raw);
    const notices: StoreOutageNotice[] = [];
    const deploy = deployWith(() => {
      // Full from now on: the file may not grow by one page.
      const pages = db.pragma('page_count', { simple: true }) as number;
      db.pragma(`max_page_count = ${pages}`);
    });
    const engine = createEngine({
      store: spied,
      operations: [deploy.deploy],
      storeOutage: { onOutage: (n) => notices.push(n) },
    });
    const handle = await engine.start(request());
    const error = await handle.result.catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreFullError);
    expect(error).toMatchObject({ code: 'STORE_FULL', file: path });
    expect((error as Error).message).toContain(path);
    expect((error as Error).cause).toMatchObject({ code: 'SQLITE_FULL' });
    expect(isTransientSqliteError(error)).toBe(false);
    // One attempt, no outage: nothing to wait for.
    expect(failures).toEqual([error]);
    expect(notices).toEqual([]);
    await engine.shutdown();
    await raw.close();
    db.close();

    const reopened = await expectAllAcknowledged(path, acknowledged);
    await expectRecovered(reopened, handle.id, deploy);
  });

  it.skipIf(!immutableWorks)(
    'read-only (chattr +i): STORE_READ_ONLY naming the file, not retried, nothing acknowledged lost',
    async () => {
      const path = join(folder, 'immutable.db');
      const raw = createSqliteEventStore({ path });
      const { spied, acknowledged, failures } = recording(raw);
      const notices: StoreOutageNotice[] = [];
      // Not the -shm file: SQLite writes it through a memory map, and a write to an immutable
      // mapped file is a SIGBUS, which no error handling survives.
      const locked = [path, `${path}-wal`];
      const deploy = deployWith(() => chattr('+i', ...locked));
      const engine = createEngine({
        store: spied,
        operations: [deploy.deploy],
        storeOutage: { onOutage: (n) => notices.push(n) },
      });
      let error: unknown;
      let handle;
      try {
        handle = await engine.start(request());
        error = await handle.result.catch((e: unknown) => e);
      } finally {
        chattr('-i', ...locked);
      }

      expect(error).toBeInstanceOf(StoreFileReadOnlyError);
      expect(error).toMatchObject({ code: 'STORE_READ_ONLY', file: path });
      expect((error as Error).message).toContain(path);
      expect((error as Error).cause).toMatchObject({ code: expect.stringMatching(/^SQLITE_/) });
      expect(isTransientSqliteError(error)).toBe(false);
      expect(failures).toEqual([error]);
      expect(notices).toEqual([]);
      await engine.shutdown();
      await raw.close();

      const reopened = await expectAllAcknowledged(path, acknowledged);
      await expectRecovered(reopened, handle.id, deploy);
    },
  );

  it.skipIf(!immutableWorks)(
    'already read-only when opened (a restart): SQLite opens it read-only, and appends are STORE_READ_ONLY naming the file',
    async () => {
      const path = join(folder, 'immutable-before.db');
      const writer = createSqliteEventStore({ path });
      await writer.append('s', [{ type: 'T', version: 1, data: { n: 1 } }]);
      await writer.close();
      chattr('+i', path);
      try {
        // SQLite falls back to a read-only connection by itself: reads work, writes cannot.
        const store = createSqliteEventStore({ path });
        expect((await store.readStream('s')).map((e) => e.data)).toEqual([{ n: 1 }]);
        const error = await store
          .append('s', [{ type: 'T', version: 1, data: { n: 2 } }])
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreFileReadOnlyError);
        expect(error).toMatchObject({ code: 'STORE_READ_ONLY', file: path });
        expect((error as Error).cause).toMatchObject({ code: 'SQLITE_READONLY' });
        expect(isTransientSqliteError(error)).toBe(false);
        await store.close();
      } finally {
        chattr('-i', path);
      }
    },
  );
});
