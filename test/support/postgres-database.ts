import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, inject } from 'vitest';

export interface TestDatabase {
  /** URL of the database this test file owns; valid once the file's beforeAll ran. */
  readonly url: string;
  /** A schema name no other store in this run uses, so that a store built on it starts empty. */
  uniqueSchema(prefix?: string): string;
  /** How many of this database's sessions wait for a lock of this type ('advisory', 'transactionid'...). */
  sessionsWaitingFor(lock: string): Promise<number>;
  /** Runs one statement on a short-lived connection (for inspecting or corrupting data). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<R[]>;
}

const serverUrl = (): string => {
  const url = inject('postgresUrl');
  if (url) return url;
  throw new Error(inject('postgresError') || 'the PostgreSQL global setup provided no server URL');
};

const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
};

const withClient = async <T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
};

/**
 * Drops the database once the connections of closed pools are gone: pg's pool.end() resolves
 * before its sockets close, and FORCE on a connection still closing makes it emit an error.
 * FORCE stays as the last resort for connections a failed test left open.
 */
const dropDatabase = (server: string, name: string) =>
  withClient(server, async (client) => {
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline) {
      const { rows } = await client.query(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
        [name],
      );
      if (rows[0]?.n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

/**
 * Gives the calling test file a database of its own (created in beforeAll, dropped in afterAll),
 * so that files running in parallel never see each other's tables.
 */
export const useTestDatabase = (): TestDatabase => {
  const name = `opledger_test_${randomBytes(6).toString('hex')}`;
  let url: string | undefined;
  let server: string | undefined;
  let schemas = 0;
  let unavailable: unknown;

  beforeAll(async () => {
    try {
      server = serverUrl();
      await withClient(server, (client) => client.query(`CREATE DATABASE ${name}`));
      url = withDatabase(server, name);
    } catch (error) {
      unavailable = error;
    }
  });

  // Thrown per test rather than from beforeAll, which would report the tests as skipped:
  // without PostgreSQL every one of them fails, with the reason.
  beforeEach(() => {
    if (unavailable) throw unavailable;
  });

  afterAll(async () => {
    if (server && url) await dropDatabase(server, name);
  });

  const readyUrl = (): string => {
    if (!url) throw new Error('the test database is not ready: use it inside tests or hooks');
    return url;
  };

  return {
    get url() {
      return readyUrl();
    },
    uniqueSchema: (prefix = 's') => `${prefix}_${++schemas}_${randomBytes(3).toString('hex')}`,
    sessionsWaitingFor: async (lock) =>
      withClient(readyUrl(), async (client) => {
        const { rows } = await client.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = $1`,
          [lock],
        );
        return (rows[0] as { n: number }).n;
      }),
    query: async (text, values) =>
      withClient(readyUrl(), async (client) => (await client.query(text, values)).rows),
  };
};
