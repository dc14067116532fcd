import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteEventStore, createSqliteReadStore } from '../../src/adapters/sqlite/index.js';
import { StoreClosedError } from '../../src/domain/errors.js';
import { initialState } from '../../src/domain/operation.js';
import type {
  OperationRecord,
  ReadModelTransaction,
  ReadStore,
} from '../../src/projections/read-store.js';

const operation = (id: string, createdAt = '2026-03-02T09:00:00.000Z'): OperationRecord => ({
  id,
  environment: 'production',
  resourceType: 'app',
  resourceHandle: 'web',
  type: 'deploy',
  status: 'succeeded',
  createdAt,
  lastRevision: 3,
  state: { ...initialState(), id, status: 'succeeded', createdAt, environment: 'production' },
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let dir: string;
const opened: Array<{ close(): Promise<void> }> = [];
const raws: Database.Database[] = [];

const open = (options: Parameters<typeof createSqliteReadStore>[0]): ReadStore => {
  const store = createSqliteReadStore(options);
  opened.push(store);
  return store;
};
const raw = (path: string, options?: Database.Options) => {
  const db = new Database(path, options);
  raws.push(db);
  return db;
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'opledger-sqlite-read-'));
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  for (const db of raws.splice(0)) if (db.open) db.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the SQLite read store', () => {
  it('lives in the event store file, in its own tables, with its own schema version', async () => {
    const path = join(dir, 'opledger.db');
    const events = createSqliteEventStore({ path });
    opened.push(events);
    open({ path });
    const db = raw(path, { readonly: true });
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'opledger_%'")
      .pluck()
      .all();
    expect([...tables].sort()).toEqual([
      'opledger_checkpoints',
      'opledger_documents',
      'opledger_environments',
      'opledger_events',
      'opledger_log_lines',
      'opledger_operations',
      'opledger_projection_versions',
      'opledger_resources',
      'opledger_schema_version',
      'opledger_skipped_events',
    ]);
    expect(
      db.prepare('SELECT component, version FROM opledger_schema_version ORDER BY component').all(),
    ).toEqual([
      { component: 'event-store', version: 1 },
      { component: 'read-store', version: 1 },
      { component: 'read-store', version: 2 },
      { component: 'read-store', version: 3 },
    ]);
  });

  it('keeps read models and checkpoints across reopening', async () => {
    const path = join(dir, 'read.db');
    const first = open({ path });
    await first.transaction('operations', 2n ** 60n, async (tx) => {
      await tx.putOperation(operation('op-1'));
      await tx.putLogLine({
        operationId: 'op-1',
        revision: 0,
        at: '2026-03-02T09:00:00.000Z',
        level: 'info',
        message: 'hello',
      });
    });
    await first.close();
    const second = open({ path });
    expect(await second.checkpoint('operations')).toBe(2n ** 60n);
    expect(await second.operation('op-1')).toEqual(operation('op-1'));
    expect((await second.logLines('op-1')).map((l) => l.message)).toEqual(['hello']);
  });

  it('finishes work queued before close(), then refuses every call', async () => {
    const path = join(dir, 'read.db');
    const store = open({ path });
    const writing = store.transaction('operations', 1n, async (tx) => {
      await sleep(20);
      await tx.putOperation(operation('op-1'));
    });
    const reading = store.operation('op-1');
    await store.close();
    await expect(writing).resolves.toBeUndefined();
    expect(await reading).toEqual(operation('op-1'));
    await expect(store.close()).resolves.toBeUndefined();
    for (const attempt of [
      store.operation('op-1'),
      store.checkpoint('operations'),
      store.transaction('operations', 2n, async () => undefined),
    ]) {
      const error = await attempt.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreClosedError);
      expect(error).toMatchObject({ code: 'STORE_CLOSED' });
      expect((error as Error).message).toContain('read store');
    }
    const reopened = open({ path });
    expect(await reopened.checkpoint('operations')).toBe(1n);
  });

  it('refuses writes through a transaction that has already ended', async () => {
    const store = open({ path: join(dir, 'read.db') });
    let leaked: ReadModelTransaction | undefined;
    await store.transaction('operations', 1n, async (tx) => {
      leaked = tx;
    });
    await expect(leaked?.putOperation(operation('op-late'))).rejects.toMatchObject({
      code: 'TRANSACTION_ENDED',
    });
    expect(await store.operation('op-late')).toBeUndefined();
  });

  it('reads operationsCreatedBetween one page at a time', async () => {
    const statements: string[] = [];
    const db = raw(join(dir, 'read.db'), { verbose: (sql) => statements.push(String(sql)) });
    const store = open({ database: db, pageSize: 2 });
    await store.transaction('operations', 1n, async (tx) => {
      for (let i = 0; i < 5; i++) {
        await tx.putOperation(operation(`op-${i}`, `2026-03-02T09:0${i}:00.000Z`));
      }
    });
    const pageReads = () =>
      statements.filter((s) => /FROM opledger_operations .*LIMIT 2(\.0)?$/.test(s)).length;
    const report = store.operationsCreatedBetween('production', '2026-03-02', '2026-03-03');
    const iterator = report[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toMatchObject({ id: 'op-0' });
    expect(pageReads()).toBe(1);
    const rest: string[] = [];
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      rest.push(next.value.id);
    }
    expect(rest).toEqual(['op-1', 'op-2', 'op-3', 'op-4']);
    expect(pageReads()).toBe(3);
  });

  it('waits for a write lock another process holds, then commits', async () => {
    const path = join(dir, 'read.db');
    const store = open({ path });
    const other = raw(path);
    other.exec('BEGIN IMMEDIATE');
    let committed = false;
    const writing = store
      .transaction('operations', 1n, async (tx) => tx.putOperation(operation('op-1')))
      .then(() => (committed = true));
    await sleep(60);
    expect(committed).toBe(false);
    other.exec('COMMIT');
    await writing;
    expect(await store.operation('op-1')).toEqual(operation('op-1'));
  });
});
