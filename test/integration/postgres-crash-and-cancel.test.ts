import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { crashRun } from './crash-recovery.js';
import { cancelAcrossProcesses } from './cross-process.js';

const server = () => {
  const url = inject('postgresUrl');
  if (!url) throw new Error(inject('postgresError') || 'no PostgreSQL server for this run');
  return url;
};

/** Runs `work` on a database of its own, dropped afterwards. */
const withFreshDatabase = async <T>(work: (url: string) => Promise<T>): Promise<T> => {
  const name = `opledger_crash_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(server());
    url.pathname = `/${name}`;
    try {
      return await work(url.toString());
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
};

describe('PostgreSQL across processes and crashes', () => {
  it('a cancel from another process reaches the running step within a second', async () => {
    const latency = await withFreshDatabase(cancelAcrossProcesses);
    console.log(`cross-process cancel on PostgreSQL: ${latency} ms`);
  });

  it('30 SIGKILLs at random points: recover() ends every operation terminal, rollback invariants hold, no acknowledged event is lost, projections equal a rebuild', async () => {
    let acks = 0;
    let killedMidway = 0;
    for (let run = 0; run < 30; run++) {
      const afterMs = Math.floor(Math.random() * 250);
      try {
        const outcome = await withFreshDatabase((url) => crashRun(url, afterMs));
        acks += outcome.acks;
        if (!outcome.finished) killedMidway++;
      } catch (error) {
        (error as Error).message =
          `run ${run} (killed ${afterMs} ms after start): ${(error as Error).message}`;
        throw error;
      }
    }
    console.log(
      `PostgreSQL crash runs: ${killedMidway} of 30 killed mid-way, ${acks} acknowledged appends`,
    );
    expect(acks).toBeGreaterThan(0);
    expect(killedMidway).toBeGreaterThanOrEqual(15);
  }, 300_000);
});
