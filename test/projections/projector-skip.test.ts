import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteEventStore, createSqliteReadStore } from '../../src/adapters/sqlite/index.js';
import {
  createInMemoryReadStore,
  SkipRefusedError,
  StoredEventError,
  type ReadStore,
} from '../../src/index.js';
import {
  createProjector,
  OPERATIONS_PROJECTION,
  type SkippedEvent,
} from '../../src/projections/index.js';
import { request } from '../support/fixtures.js';
import { projectionSetup } from '../support/projections.js';
import { dumpReadStore } from '../support/read-store-dump.js';

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );

const who = { user: 'ops@example.com', reason: 'written by a buggy script; nothing to repair' };
const at = new Date('2026-03-02T10:00:00.000Z');

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('skipping an unreadable stored event, recorded', () => {
  it('a readable row with a bad schema, amid a batch: stops right at it, skips it on record, rebuilds past it', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1' } }));
    const bad = (
      await s.store.append('operation-op-000001', [
        { type: 'StepStarted', version: 1, data: { nope: 1 } },
      ])
    ).lastPosition;
    await s.run(request({ params: { image: 'v2' } }));
    const head = await s.store.headPosition();
    const skipped: SkippedEvent[] = [];
    const readStore = createInMemoryReadStore();
    const projector = createProjector({
      store: s.store,
      readStore,
      batchSize: 1000,
      onSkipped: (skip) => skipped.push(skip),
    });

    const stop = await failureOf(projector.catchUp());
    expect(stop).toBeInstanceOf(StoredEventError);
    expect(stop).toMatchObject({ position: bad, kind: 'schema_mismatch' });
    // Everything before it is applied, nothing after: the read models stop right at it.
    expect(await projector.checkpoint()).toBe(bad - 1n);
    expect(await readStore.operation('op-000002')).toBeUndefined();

    // Only the event they stop at can be skipped, by someone, for a reason.
    const elsewhere = await failureOf(projector.skip(bad + 1n, { ...who, at }));
    expect(elsewhere).toBeInstanceOf(SkipRefusedError);
    expect((elsewhere as Error).message).toContain(`stop at position ${bad}, not ${bad + 1n}`);
    await expect(projector.skip(bad, { user: 'ops@example.com', reason: ' ' })).rejects.toThrow(
      /the user who skips and the reason why/,
    );

    const skip = await projector.skip(bad, { ...who, at });
    expect(skip).toEqual({
      position: bad.toString(),
      stream: 'operation-op-000001',
      revision: expect.any(String),
      code: 'INVALID_STORED_EVENT',
      problem: expect.stringContaining(`Stored event at position ${bad}`),
      user: who.user,
      at: at.toISOString(),
      reason: who.reason,
    });
    expect(await readStore.skippedEvents(OPERATIONS_PROJECTION)).toEqual([skip]);
    expect(await projector.checkpoint()).toBe(bad);
    expect(await projector.catchUp()).toBe(head);
    expect((await readStore.operation('op-000002'))?.status).toBe('succeeded');
    const model = await dumpReadStore(readStore, ['production']);

    // A rebuild passes over it the same way, and says so.
    expect(await projector.rebuild()).toBe(head);
    expect(await dumpReadStore(readStore, ['production'])).toEqual(model);
    expect(skipped).toEqual([skip]);
    // Nothing left to skip now.
    const nothing = await failureOf(projector.skip(bad, who));
    expect((nothing as Error).message).toMatch(/^Nothing to skip at position/);
    // The skip belongs to that read store: another still stops at the event.
    const other = createProjector({ store: s.store, readStore: createInMemoryReadStore() });
    expect(await failureOf(other.catchUp())).toMatchObject({ position: bad });
  });

  it('a row that is not JSON in a SQLite file: the events around it are read, it is skipped on record in the same file, and a rebuild passes over it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'opledger-skip-'));
    const path = join(dir, 'opledger.db');
    const store = createSqliteEventStore({ path });
    const s = projectionSetup({ store });
    for (const image of ['v1', 'v2', 'v3']) await s.run(request({ params: { image } }));
    const head = await store.headPosition();
    // A row cut by a disk fault in the middle of the second deploy.
    const bad = head / 2n;
    const raw = new Database(path);
    raw.prepare('UPDATE opledger_events SET data = ? WHERE position = ?').run('{"at": "20', bad);
    raw.close();

    const open = () => createSqliteReadStore({ path });
    let readStore: ReadStore = open();
    // A page larger than the whole store: the store's error comes for the page, not the row.
    const projector = (rs: ReadStore) => createProjector({ store, readStore: rs, batchSize: 64 });
    const stop = await failureOf(projector(readStore).catchUp());
    expect(stop).toMatchObject({ position: bad, kind: 'damaged' });
    expect((stop as Error).message).toMatch(/its data is not valid JSON.*Repair the stored row/);
    expect(await readStore.checkpoint(OPERATIONS_PROJECTION)).toBe(bad - 1n);

    const skip = await projector(readStore).skip(bad, { ...who, at });
    expect(skip.problem).toMatch(/not valid JSON/);
    expect(await projector(readStore).catchUp()).toBe(head);
    const model = await dumpReadStore(readStore, ['production']);
    expect((model.production as { operations: unknown[] }).operations).toHaveLength(3);
    await readStore.close();

    // Recorded in the file: another process, later, rebuilds past it.
    readStore = open();
    const skipped: SkippedEvent[] = [];
    const again = createProjector({
      store,
      readStore,
      batchSize: 7,
      onSkipped: (x) => skipped.push(x),
    });
    expect(await again.rebuild()).toBe(head);
    expect(skipped).toEqual([skip]);
    expect(await dumpReadStore(readStore, ['production'])).toEqual(model);
    await readStore.close();
    await store.close();
  });
});
