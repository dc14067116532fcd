/**
 * Workload 1's sequential phase on SQLite (one writer awaiting each one-event append, every
 * stream one event per round), timed by CPU as well as by the clock, for the raw driver and the
 * opledger contestants of `bench/lib/append-targets.ts`, in an order that flips with `--run`.
 * On a shared machine the clock-time ratio swings with the load; CPU per append (process.cpuUsage,
 * user + system) much less, so `raw CPU / opledger CPU` is the steadier reading of the target
 * "appends, SQLite, sequential: at least 80% of the raw driver".
 *
 * `--tree DIR` takes the contestants (and so the store) from another checkout, to run the code
 * before and after a change alternately. Prints one JSON line.
 *
 *   npx tsx bench/sqlite-sequential-cpu.ts [--events 20000] [--streams 2000] [--run 1] [--tree DIR]
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Targets from './lib/append-targets.js';
import { benchEvent, streamName } from './lib/events.js';

const option = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1]!;
};
const events = Number(option('--events', '20000'));
const streams = Number(option('--streams', '2000'));
const run = Number(option('--run', '1'));
const tree = resolve(option('--tree', join(fileURLToPath(import.meta.url), '..', '..')));

const targets = (await import(join(tree, 'bench', 'lib', 'append-targets.ts'))) as typeof Targets;
const contestants = [targets.rawSqlite, targets.opledgerSqlite, targets.opledgerSqliteOneWriter];

const sequential = async (t: Targets.AppendTarget, count: number, streamCount: number) => {
  for (let r = 0; r < Math.floor(count / streamCount); r++) {
    for (let i = 0; i < streamCount; i++) await t.append(streamName(i), [benchEvent(i, r)], r);
  }
};

const result: Record<string, { eventsPerSecond: number; cpuUsPerAppend: number }> = {};
for (const f of contestants) {
  const warm = await f.open(`warm_${run}`);
  await sequential(warm, 5_000, 500);
  await warm.close();
}
const order = run % 2 === 0 ? [...contestants].reverse() : contestants;
for (const f of order) {
  const t = await f.open(`seq_${run}`);
  const cpu = process.cpuUsage();
  const started = performance.now();
  await sequential(t, events, streams);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await t.close();
  result[f.contestant] = {
    eventsPerSecond: events / seconds,
    cpuUsPerAppend: (used.user + used.system) / events,
  };
}
process.stdout.write(`${JSON.stringify({ tree, run, events, streams, result })}\n`);
