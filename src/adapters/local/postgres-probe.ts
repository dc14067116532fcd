import { missingOr } from '../peer-dependency.js';

/**
 * Whether a PostgreSQL server on a loopback port accepts connections and answers a query, as a
 * client would find out. A server that accepts TCP while starting up or shutting down refuses
 * the session ("the database system is starting up"): that counts as not accepting.
 * `pg` is an optional peer dependency, loaded only when a database is probed.
 */
const loadPg = async () => {
  try {
    return (await import('pg')).default;
  } catch (error) {
    throw missingOr(error, {
      name: 'pg',
      version: '8',
      neededFor: 'Probing a PostgreSQL database',
    });
  }
};

export const probePostgres = async (port: number, timeoutMs = 1_000): Promise<boolean> => {
  const pg = await loadPg();
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  // An error after connecting (the server going away) must not crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
};
