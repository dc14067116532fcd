import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import {
  createPostgresEventStore,
  PostgresUnreachableError,
} from '../../src/adapters/postgres/index.js';
import { createStore, InvalidStoreUrlError, type Stores } from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'opledger-create-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const roundTrip = async (stores: Stores) => {
  try {
    await stores.eventStore.append('probe', [{ type: 'Probe', version: 1, data: { ok: true } }]);
    const [event] = await stores.eventStore.readStream('probe');
    expect(event?.data).toEqual({ ok: true });
    expect(await stores.readStore.checkpoint('operations')).toBe(0n);
  } finally {
    await stores.close();
  }
};

describe('createStore(url)', () => {
  it('opens memory:, sqlite:PATH and postgres:// stores', async () => {
    await roundTrip(await createStore('memory:'));
    const path = join(dir, 'nested', 'opledger.db');
    await roundTrip(await createStore(`sqlite:${path}`));
    // The same file again: what was written is still there.
    const again = await createStore(`sqlite:${path}`);
    expect(await again.eventStore.headPosition()).toBe(1n);
    await again.close();
    const postgres = inject('postgresUrl');
    if (!postgres) throw new Error(inject('postgresError') || 'no PostgreSQL server');
    await roundTrip(await createStore(postgres));
  });

  it('maps esdb:// and kurrentdb:// to the EventStoreDB adapter without connecting until used', async () => {
    for (const url of ['esdb://127.0.0.1:1?tls=false', 'kurrentdb://127.0.0.1:1?tls=false']) {
      const stores = await createStore(url, { readStore: 'memory:' });
      expect(typeof stores.eventStore.append).toBe('function');
      await stores.close();
    }
  });

  it('opens a postgres:// store without its server, and says on use that it cannot reach it', async () => {
    const rejection = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (e: unknown) => e,
      );
    // localhost: Node tries ::1 then 127.0.0.1 and reports both (an AggregateError).
    for (const [host, server] of [
      ['127.0.0.1:1', '127.0.0.1:1/orders'],
      ['localhost:1', 'localhost:1/orders'],
    ] as const) {
      const stores = await createStore(`postgres://ada:secret@${host}/orders`);
      try {
        for (const call of [
          () => stores.eventStore.headPosition(),
          // Not remembered: each call tries again, and says the same.
          () => stores.eventStore.append('s', [{ type: 'E', version: 1, data: {} }]),
          () => stores.readStore.checkpoint('operations'),
        ]) {
          const error = await rejection(call());
          expect(error).toBeInstanceOf(PostgresUnreachableError);
          expect(error).toMatchObject({ code: 'STORE_UNREACHABLE', server });
          expect((error as Error).message).toContain(
            `Cannot connect to the PostgreSQL server at ${server} (ECONNREFUSED)`,
          );
          expect((error as Error).message).not.toContain('secret');
        }
      } finally {
        await stores.close();
      }
    }
    // A pool the caller made is described from its options.
    const pool = new pg.Pool({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 5_000 });
    pool.on('error', () => undefined);
    try {
      const error = await rejection(createPostgresEventStore({ pool }).headPosition());
      expect(error).toMatchObject({ code: 'STORE_UNREACHABLE', server: '127.0.0.1:1' });
    } finally {
      await pool.end();
    }
  });

  it('rejects a bad URL with a clear error listing the accepted forms', async () => {
    for (const url of ['mysql://localhost/db', 'sqlite:', 'file.db', '']) {
      const error = await createStore(url).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InvalidStoreUrlError);
      expect((error as Error).message).toContain('Accepted forms: memory: | sqlite:PATH');
      expect((error as InvalidStoreUrlError).code).toBe('INVALID_STORE_URL');
    }
    await expect(createStore('esdb://x:1?tls=false', { readStore: 'redis://x' })).rejects.toThrow(
      /is not a read store/,
    );
  });
});
