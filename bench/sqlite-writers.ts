/**
 * Appends to a fresh SQLite file from one or several writers in one process, each a loop of
 * `await store.append(...)` of one event: a lone writer (what group commit may slow down) or
 * writers whose appends group commit gathers. Prints one JSON line: appends/s and CPU time per
 * append (process.cpuUsage, user + system), after a warm-up of 200 appends.
 *
 * `--tree DIR` measures the SQLite store of another checkout (its src/), so that the code
 * before and after a change can be run alternately, as bench/RESULTS.md's issue 17 rows were.
 *
 *   npx tsx bench/sqlite-writers.ts [--writers 1] [--appends 5000] [--synchronous full|normal]
 *                                   [--tree DIR]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { createSqliteEventStore as Create } from '../src/adapters/sqlite/index.js';

const option = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1]!;
};
const writers = Number(option('--writers', '1'));
const appends = Number(option('--appends', '5000'));
const synchronous = option('--synchronous', 'full') as 'full' | 'normal';
const tree = resolve(option('--tree', join(fileURLToPath(import.meta.url), '..', '..')));

const { createSqliteEventStore } = (await import(
  join(tree, 'src', 'adapters', 'sqlite', 'index.ts')
)) as { createSqliteEventStore: typeof Create };
const folder = mkdtempSync(join(tmpdir(), 'opledger-bench-writers-'));
const store = createSqliteEventStore({ path: join(folder, 'events.db'), synchronous });

const event = (i: number) => [{ type: 'Written', version: 1, data: { i, pad: 'x'.repeat(100) } }];
/** Writer `w`'s loop: `count` appends spread over 50 streams of its own. */
const writer = async (w: number, count: number) => {
  for (let i = 0; i < count; i++) await store.append(`s-${w}-${i % 50}`, event(i));
};
const all = (count: number) =>
  Promise.all(Array.from({ length: writers }, (_, w) => writer(w, Math.ceil(count / writers))));

try {
  await all(200);
  const cpu = process.cpuUsage();
  const started = performance.now();
  await all(appends);
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const total = Math.ceil(appends / writers) * writers;
  process.stdout.write(
    `${JSON.stringify({ tree, writers, synchronous, appendsPerSecond: (total / ms) * 1000, cpuUsPerAppend: (used.user + used.system) / total })}\n`,
  );
} finally {
  await store.close();
  rmSync(folder, { recursive: true, force: true });
}
