import { EventEmitter } from 'node:events';
import type { Pool, PoolClient } from 'pg';
import { describe, expect, it } from 'vitest';
import { inTransaction } from '../../src/adapters/postgres/connection.js';

/** A pool of one client that records what it is asked, and fails the statements named. */
const fakePool = (failing: readonly string[] = []) => {
  const calls: string[] = [];
  // An emitter like pg's client: inTransaction listens for a connection dropped under it.
  const client = Object.assign(new EventEmitter(), {
    query: async (text: string) => {
      calls.push(text);
      if (failing.includes(text)) throw new Error(`${text} failed`);
      return { rows: [] };
    },
    release: (broken?: Error) => calls.push(`release(${broken?.message ?? ''})`),
  });
  const pool = { connect: async () => client } as unknown as Pool;
  return { pool, calls, client };
};

describe('inTransaction (the PostgreSQL migrations and read store)', () => {
  it('commits what the work did and gives back its result, then pools the client', async () => {
    const { pool, calls } = fakePool();
    const result = await inTransaction(pool, async (c: PoolClient) => {
      await c.query('UPDATE');
      return 42;
    });
    expect(result).toBe(42);
    expect(calls).toEqual(['BEGIN', 'UPDATE', 'COMMIT', 'release()']);
  });

  it('rolls back when the work throws, rethrows, and runs done before the client goes back', async () => {
    const { pool, calls } = fakePool(['UPDATE']);
    await expect(
      inTransaction(pool, async (c) => void (await c.query('UPDATE')), {
        begin: 'BEGIN; LOCK',
        done: () => calls.push('done'),
      }),
    ).rejects.toThrow('UPDATE failed');
    expect(calls).toEqual(['BEGIN; LOCK', 'UPDATE', 'ROLLBACK', 'done', 'release()']);
  });

  it('closes a client whose rollback failed instead of pooling it', async () => {
    const { pool, calls } = fakePool(['UPDATE', 'ROLLBACK']);
    await expect(inTransaction(pool, async (c) => void (await c.query('UPDATE')))).rejects.toThrow(
      'UPDATE failed',
    );
    expect(calls.at(-1)).toBe('release(ROLLBACK failed)');
  });

  it('given the connection dropped during the work, then the client is closed, not pooled, and nothing listens to it after', async () => {
    const { pool, calls, client } = fakePool();
    await inTransaction(pool, async (c) => {
      client.emit('error', new Error('Connection terminated unexpectedly'));
      await c.query('UPDATE');
    });
    expect(calls.at(-1)).toBe('release(Connection terminated unexpectedly)');
    expect(client.listenerCount('error')).toBe(0);
  });
});
