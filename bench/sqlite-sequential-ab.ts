/**
 * Workload 1's sequential appends on SQLite (one writer awaiting each one-event append), the
 * default store of another checkout (A, `BASE`) against this one's (B), with the raw driver as
 * the yardstick, in one process: rounds A B B A (or B A A B with `r`), three times, medians of
 * CPU per append (process.cpuUsage, user + system). Prints one JSON line.
 *
 *   npx tsx bench/sqlite-sequential-ab.ts BASE [r]
 */
import { join, resolve } from 'node:path';
import type * as Targets from './lib/append-targets.js';
import { benchEvent, streamName } from './lib/events.js';

const base = resolve(process.argv[2] ?? '.');
const flip = process.argv[3] === 'r';
const before = (await import(join(base, 'bench', 'lib', 'append-targets.ts'))) as typeof Targets;
const after = (await import('./lib/append-targets.js')) as typeof Targets;
const factories: Record<string, Targets.TargetFactory> = {
  A: before.opledgerSqlite,
  B: after.opledgerSqlite,
  raw: after.rawSqlite,
};

const sequential = async (t: Targets.AppendTarget, count: number, streams: number) => {
  for (let r = 0; r < count / streams; r++) {
    for (let i = 0; i < streams; i++) await t.append(streamName(i), [benchEvent(i, r)], r);
  }
};

const cpu: Record<string, number[]> = { A: [], B: [], raw: [] };
const measure = async (name: string, round: number) => {
  const t = await factories[name]!.open(`ab_${name}_${round}`);
  const started = process.cpuUsage();
  await sequential(t, 10_000, 1_000);
  const used = process.cpuUsage(started);
  await t.close();
  cpu[name]!.push((used.user + used.system) / 10_000);
};

for (const name of Object.keys(factories)) {
  const warm = await factories[name]!.open(`warm_${name}`);
  await sequential(warm, 3_000, 300);
  await warm.close();
}
const order = flip ? ['B', 'A', 'A', 'B', 'raw'] : ['A', 'B', 'B', 'A', 'raw'];
for (let round = 0; round < 3; round++) for (const name of order) await measure(name, round);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const [a, b, raw] = [median(cpu.A!), median(cpu.B!), median(cpu.raw!)];
process.stdout.write(
  `${JSON.stringify({ order: order.join(' '), cpuUsPerAppend: { A: a, B: b, raw }, rawRatio: { A: raw / a, B: raw / b } })}\n`,
);
