import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteEventStore, createSqliteReadStore } from '../../src/adapters/sqlite/index.js';
import { createStore } from '../../src/adapters/create-store.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const fileWithOneEvent = async () => {
  dir = mkdtempSync(join(tmpdir(), 'opledger-ro-'));
  const path = join(dir, 'opledger.db');
  const writer = await createStore(`sqlite:${path}`);
  await writer.eventStore.append('s', [{ type: 'T', version: 1, data: { n: 1 } }]);
  await writer.readStore.transaction('operations', 1n, async () => undefined);
  await writer.close();
  return path;
};

describe('SQLite stores opened read-only', () => {
  it('read, and refuse every write with STORE_READ_ONLY, leaving the file as it was', async () => {
    const path = await fileWithOneEvent();
    const stores = await createStore(`sqlite:${path}`, { readonly: true });
    expect((await stores.eventStore.readAll()).map((e) => e.data)).toEqual([{ n: 1 }]);
    expect(await stores.readStore.checkpoint('operations')).toBe(1n);
    await expect(
      stores.eventStore.append('s', [{ type: 'T', version: 1, data: {} }]),
    ).rejects.toMatchObject({
      code: 'STORE_READ_ONLY',
    });
    await expect(
      stores.readStore.transaction('operations', 2n, async () => undefined),
    ).rejects.toMatchObject({
      code: 'STORE_READ_ONLY',
    });
    await expect(stores.readStore.reset('operations')).rejects.toMatchObject({
      code: 'STORE_READ_ONLY',
    });
    await stores.close();
    const stores2 = await createStore(`sqlite:${path}`);
    expect(await stores2.eventStore.headPosition()).toBe(1n);
    expect(await stores2.readStore.checkpoint('operations')).toBe(1n);
    await stores2.close();
  });

  it('refuse a file whose schema would need migrating, since they may not migrate it', async () => {
    const path = await fileWithOneEvent();
    const db = new Database(path);
    db.exec("DELETE FROM opledger_schema_version WHERE component = 'read-store' AND version >= 2");
    db.close();
    expect(() => createSqliteReadStore({ path, readonly: true })).toThrow(
      /read-store schema of this read-only file is at version 1; this opledger needs 3/,
    );
    // The event store's schema is current: it opens.
    const events = createSqliteEventStore({ path, readonly: true });
    expect(await events.headPosition()).toBe(1n);
    await events.close();
  });
});
