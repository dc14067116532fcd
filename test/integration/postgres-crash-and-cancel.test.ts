import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, inject, it } from 'vitest';
import { crashSeries } from './crash-recovery.js';
import { cancelAcrossProcesses } from './cross-process.js';

const server = () => {
  const url = inject('postgresUrl');
  if (!url) throw new Error(inject('postgresError') || 'no PostgreSQL server for this run');
  return url;
};

/** Runs `work` on a database of its own, dropped afterwards. */
const withFreshDatabase = async <T>(
  work: (url: string, settle: () => Promise<void>) => Promise<T>,
): Promise<T> => {
  const name = `opledger_crash_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(server());
    url.pathname = `/${name}`;
    // Waits until no session of a killed client is left working on the database.
    const settle = async () => {
      for (let i = 0; i < 500; i++) {
        const { rows } = await admin.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
          [name],
        );
        if (rows[0]?.n === 0) return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`sessions of the killed process never left database ${name}`);
    };
    try {
      return await work(url.toString(), settle);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
};

describe('PostgreSQL across processes and crashes', () => {
  it('a cancel from another process reaches the running step within a second', async () => {
    const latency = await withFreshDatabase((url) => cancelAcrossProcesses(url));
    console.log(`cross-process cancel on PostgreSQL: ${latency} ms`);
  });

  it('30 SIGKILLs at random points: recover() ends every operation terminal, rollback invariants hold, no acknowledged event is lost, projections equal a rebuild', async () => {
    await crashSeries('PostgreSQL', (_run, work) => withFreshDatabase(work));
  }, 300_000);
});
