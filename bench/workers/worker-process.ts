/**
 * One worker process of the workers benchmark (bench/workers/run.ts): runs 'wait5', five steps
 * that each wait 20 ms (an I/O-bound call to the outside world), at the concurrency given.
 * It counts its appends and how long each took from this process (round trip, the advisory
 * lock's wait included), and its conflicts, and prints them as one JSON line on SIGTERM.
 *
 * Usage: tsx bench/workers/worker-process.ts <postgres url> <identity> <concurrency>
 */
import pg from 'pg';
import { createPostgresEventStore } from '../../src/adapters/postgres/index.js';
import { ConcurrencyError } from '../../src/domain/errors.js';
import { createWorker } from '../../src/engine/worker/worker.js';
import { waitOperation } from './operation.js';

const [url, identity, concurrency] = process.argv.slice(2);
if (!url || !identity || !concurrency) throw new Error('usage: <url> <identity> <concurrency>');

// A pool of our own (pg's default of 10 connections, as the store's own would be, unless
// OPLEDGER_BENCH_POOL_MAX says otherwise), so that queries waiting for a connection can be sampled.
const poolMax = Number(process.env.OPLEDGER_BENCH_POOL_MAX ?? 10);
const pool = new pg.Pool({ connectionString: url, max: poolMax });
pool.on('error', () => undefined);
const store = createPostgresEventStore({ pool });
const counts = { appends: 0, appendMs: 0, conflicts: 0, reads: 0, cpuMs: 0, poolWaiting: 0 };
let samples = 0;
let waiting = 0;
const sampler = setInterval(() => {
  samples++;
  waiting += pool.waitingCount;
}, 20);
const append = store.append.bind(store);
store.append = async (...args) => {
  const started = performance.now();
  try {
    return await append(...args);
  } catch (error) {
    if (error instanceof ConcurrencyError) counts.conflicts++;
    throw error;
  } finally {
    counts.appends++;
    counts.appendMs += performance.now() - started;
  }
};
const readStream = store.readStream.bind(store);
store.readStream = (...args) => {
  counts.reads++;
  return readStream(...args);
};

const worker = await createWorker({
  store,
  operations: [waitOperation],
  identity,
  concurrency: Number(concurrency),
  log: () => undefined,
});
// CPU from here on: the run's, not the process start's (loading tsx and the modules).
const cpuAtReady = process.cpuUsage();
process.stdout.write(`${JSON.stringify({ kind: 'ready', identity })}\n`);
process.on('SIGTERM', () => {
  void worker.shutdown({ graceMs: 1_000 }).then(async () => {
    const cpu = process.cpuUsage(cpuAtReady);
    clearInterval(sampler);
    counts.poolWaiting = waiting / Math.max(1, samples);
    counts.cpuMs = (cpu.user + cpu.system) / 1000;
    process.stdout.write(`${JSON.stringify({ kind: 'counts', identity, ...counts })}\n`);
    await store.close();
    await pool.end();
    process.exit(0);
  });
});
