/**
 * Issue 17 + 20: what the atomic request write (a request and its queue place in one commit)
 * changes for an engine on SQLite, now that the outage decorator every durable store goes
 * through offers `appendToStreams`. "before" hides `appendToStreams` from the engine's
 * decorator, which is what the decorator did before (two appends per request); "after" is the
 * code as it is. Each run is a process of its own; the runs alternate before / after.
 *
 *   npx tsx bench/atomic-request.ts            # 5 runs of each, alternating; prints a table
 *   SYNCHRONOUS=full npx tsx bench/atomic-request.ts
 *   npx tsx bench/atomic-request.ts child after
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSqliteEventStore } from '../src/adapters/sqlite/index.js';
import { defineOperation } from '../src/domain/operation-definition.js';
import { createEngine } from '../src/engine/engine.js';
import { countingStore, NOOP_STEPS } from './lib/engine-appends.js';

type Variant = 'before' | 'after';
const RUNS = Number(process.env.RUNS ?? 5);
const ONE_AT_A_TIME = 400;
const IN_FLIGHT = 16;
const CONCURRENT = 800;

// The engine benchmark's operation (bench/workloads/engine.ts): five steps that do nothing.
const noopOperation = defineOperation({ type: 'noop', steps: NOOP_STEPS });

interface Phase {
  opsPerSecond: number;
  cpuMicrosPerOp: number;
  commitsPerOp: number;
}

const child = async (variant: Variant): Promise<Record<string, Phase>> => {
  const folder = mkdtempSync(join(tmpdir(), 'opledger-bench-atomic-'));
  // 'normal' as in the other engine benchmarks (no fsync per commit); SYNCHRONOUS=full for
  // opledger's default, where a commit saved is an fsync saved.
  const synchronous = process.env.SYNCHRONOUS === 'full' ? 'full' : 'normal';
  const sqlite = createSqliteEventStore({ path: join(folder, 'events.db'), synchronous });
  // Counts the store's commits under the engine's outage decorator (the store keeps its
  // outage traits, so the decorator is in front of it, as in production).
  const { store, commits } = countingStore(sqlite, {
    atomic: variant === 'after',
    recordAppends: false,
  });
  const engine = createEngine({ store, operations: [noopOperation] });
  let n = 0;
  const one = async (lane: number) => {
    const op = await engine.start({
      type: 'noop',
      environment: 'bench',
      resource: { type: 'app', handle: `app-${lane}` },
      user: 'bench@example.com',
      params: { n: n++ },
    });
    const result = await op.result;
    if (result.status !== 'succeeded') throw new Error(result.summary);
  };
  const phase = async (count: number, inFlight: number): Promise<Phase> => {
    commits.count = 0;
    let next = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async (_, lane) => {
        while (next++ < count) await one(lane);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return {
      opsPerSecond: count / seconds,
      cpuMicrosPerOp: (used.user + used.system) / count,
      commitsPerOp: commits.count / count,
    };
  };
  await phase(100, 4); // warm-up
  const result = {
    'one at a time': await phase(ONE_AT_A_TIME, 1),
    [`${IN_FLIGHT} in flight`]: await phase(CONCURRENT, IN_FLIGHT),
  };
  await engine.shutdown();
  await sqlite.close();
  rmSync(folder, { recursive: true, force: true });
  return result;
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const say = (line: string) => process.stdout.write(`${line}\n`);

const parent = () => {
  const runs: Record<Variant, Record<string, Phase>[]> = { before: [], after: [] };
  const self = fileURLToPath(import.meta.url);
  for (let i = 0; i < RUNS; i++) {
    // The order flips from one round to the next.
    const order: Variant[] = i % 2 ? ['after', 'before'] : ['before', 'after'];
    for (const variant of order) {
      const out = spawnSync(process.execPath, ['--import', 'tsx', self, 'child', variant], {
        encoding: 'utf8',
      });
      if (out.status !== 0) throw new Error(out.stderr);
      runs[variant].push(JSON.parse(out.stdout.trim().split('\n').at(-1)!));
      process.stderr.write(`${variant} ${out.stdout.trim().split('\n').at(-1)}\n`);
    }
  }
  const fmt = (xs: number[], digits = 0) =>
    `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)} – ${Math.max(...xs).toFixed(digits)})`;
  say('| engine on SQLite | before (two appends per request) | after (one appendToStreams) |');
  say('| --- | --- | --- |');
  for (const phaseName of Object.keys(runs.before[0]!)) {
    const of = (v: Variant, k: keyof Phase) => runs[v].map((r) => r[phaseName]![k]);
    say(
      `| ${phaseName}: operations/s | ${fmt(of('before', 'opsPerSecond'))} | ${fmt(of('after', 'opsPerSecond'))} |`,
    );
    say(
      `| ${phaseName}: CPU per operation (µs) | ${fmt(of('before', 'cpuMicrosPerOp'))} | ${fmt(of('after', 'cpuMicrosPerOp'))} |`,
    );
    say(
      `| ${phaseName}: commits per operation | ${fmt(of('before', 'commitsPerOp'), 1)} | ${fmt(of('after', 'commitsPerOp'), 1)} |`,
    );
  }
};

if (process.argv[2] === 'child') {
  say(JSON.stringify(await child(process.argv[3] as Variant)));
} else {
  parent();
}
