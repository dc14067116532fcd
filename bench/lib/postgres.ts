import pg from 'pg';
import { startCluster } from '../../test/support/postgres-cluster.js';

export interface PostgresServer {
  /** URL of the server's `postgres` database; benchmarks create their own databases from it. */
  url: string;
  /** How the server was obtained, for the results. */
  origin: string;
  stop(): Promise<void>;
}

/**
 * OPLEDGER_BENCH_POSTGRES_URL when set; otherwise the same throwaway cluster the tests start
 * (a temporary folder, run as the `postgres` user when we are root, removed on stop).
 */
export const openPostgresServer = async (): Promise<PostgresServer> => {
  const external = process.env.OPLEDGER_BENCH_POSTGRES_URL;
  if (external)
    return { url: external, origin: 'OPLEDGER_BENCH_POSTGRES_URL', stop: async () => {} };
  const cluster = await startCluster();
  return {
    url: cluster.url,
    origin:
      'throwaway cluster started by the harness (fsync=off, synchronous_commit=off, full_page_writes=off)',
    stop: cluster.stop,
  };
};

export const databaseUrl = (serverUrl: string, database: string): string => {
  const parsed = new URL(serverUrl);
  parsed.pathname = `/${database}`;
  return parsed.toString();
};

const onServer = async <T>(serverUrl: string, work: (c: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
};

/** A fresh, empty database; returns its URL. */
export const createDatabase = (serverUrl: string, name: string): Promise<string> =>
  onServer(serverUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${name}" TEMPLATE template0`);
    return databaseUrl(serverUrl, name);
  });

export const dropDatabase = (serverUrl: string, name: string): Promise<void> =>
  onServer(serverUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
