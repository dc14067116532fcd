import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isTransientEventStoreDbError } from '../../src/adapters/eventstoredb/index.js';
import {
  createSqliteEventStore,
  isTransientSqliteError,
  ReadOnlyStoreError,
} from '../../src/adapters/sqlite/index.js';
import { createEngine, createWorker, defineOperation, step } from '../../src/index.js';
import { allLines, messages, request } from '../support/fixtures.js';

const folder = mkdtempSync(join(tmpdir(), 'opledger-sqlite-outage-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));
const event = { type: 'T', version: 1, data: {} };

describe('SQLite: a file locked past its busy timeout', () => {
  it('is a transient error; a read-only store is not', async () => {
    const path = join(folder, 'classify.db');
    const store = createSqliteEventStore({ path, busyTimeoutMs: 50 });
    await store.append('s', [event]);
    const holder = new Database(path);
    holder.exec('BEGIN IMMEDIATE');
    const busy = await store.append('s', [event]).catch((e: unknown) => e);
    holder.exec('COMMIT');
    holder.close();
    expect(busy).toMatchObject({ code: 'STORE_BUSY' });
    expect(isTransientSqliteError(busy)).toBe(true);
    expect(store.outage).toMatchObject({ host: path });
    await store.close();

    const readonly = createSqliteEventStore({ path, readonly: true });
    const refused = await readonly.append('s', [event]).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ReadOnlyStoreError);
    expect(isTransientSqliteError(refused)).toBe(false);
    await readonly.close();
  });

  it('is waited out by an engine in the middle of a step, with one log line', async () => {
    const path = join(folder, 'engine.db');
    const store = createSqliteEventStore({ path, busyTimeoutMs: 100 });
    let release: Promise<void> | undefined;
    const deploy = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'start',
          run: () => {
            // Another process takes the write lock for 1.5 s, 15 times the busy timeout.
            const holder = new Database(path);
            holder.exec('BEGIN IMMEDIATE');
            release = new Promise((resolve) =>
              setTimeout(() => {
                holder.exec('COMMIT');
                holder.close();
                resolve();
              }, 1_500),
            );
            return { started: true };
          },
          undo: () => undefined,
        }),
      ],
    });
    const engine = createEngine({ store, operations: [deploy] });
    const handle = await engine.start(request());
    expect((await handle.result).status).toBe('succeeded');
    await release;
    const lines = messages(await allLines(handle));
    expect(
      lines.filter((l) => /^the event store was unreachable for \d+\.\d s; went on$/.test(l)),
    ).toHaveLength(1);
    await engine.shutdown();
    await store.close();
  });
});

describe('EventStoreDB: the clients’ own errors', () => {
  const require = createRequire(import.meta.url);
  const { Metadata } = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  const grpc = (code: number, details: string) =>
    Object.assign(new Error(`${code} ${details}`), { code, details, metadata: new Metadata() });

  for (const name of ['@eventstore/db-client', '@kurrent/kurrentdb-client']) {
    it(`classifies ${name}'s errors from gRPC statuses`, () => {
      const client = require(name) as {
        convertToCommandError(error: unknown): unknown;
        WrongExpectedVersionError: new (...args: never[]) => unknown;
      };
      // 14 UNAVAILABLE: no connection; 4 DEADLINE_EXCEEDED: a call cut off.
      expect(
        isTransientEventStoreDbError(
          client.convertToCommandError(grpc(14, 'No connection established')),
        ),
      ).toBe(true);
      expect(
        isTransientEventStoreDbError(client.convertToCommandError(grpc(4, 'Deadline exceeded'))),
      ).toBe(true);
      // 3 INVALID_ARGUMENT, 7 PERMISSION_DENIED: the call's own fault.
      expect(isTransientEventStoreDbError(client.convertToCommandError(grpc(3, 'bad')))).toBe(
        false,
      );
      expect(isTransientEventStoreDbError(client.convertToCommandError(grpc(7, 'denied')))).toBe(
        false,
      );
    });
  }
});

describe('SQLite: a worker shutting down while the file is locked', () => {
  it('does not keep a shutting-down worker past its lease: the release is given up with a warning when the lease would run out', async () => {
    const path = join(folder, 'worker.db');
    const store = createSqliteEventStore({ path, busyTimeoutMs: 50 });
    const said: string[] = [];
    const worker = await createWorker({
      store,
      operations: [
        defineOperation({
          type: 'deploy',
          steps: [step({ name: 'start', kind: 'no_side_effects', run: () => undefined })],
        }),
      ],
      identity: 'w1',
      lease: { ttlMs: 1_000, renewEveryMs: 300 },
      log: (entry) => void said.push(entry.message),
    });
    const lease = worker.lease();
    // Another process holds the write lock through the whole shutdown: the release cannot be
    // written, and the outage decorator would wait for it for its 60 s budget.
    const holder = new Database(path);
    holder.exec('BEGIN IMMEDIATE');
    try {
      await worker.shutdown({ graceMs: 0 });
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    expect(said).toContain(
      `lease ${lease} not released: the store did not take the release before the lease's 1000 ms time to live ran out; it expires by itself, and its operations are left to the worker that takes them over`,
    );
    await store.close();
  }, 20_000);
});
