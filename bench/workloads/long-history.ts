import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInMemoryEventStore } from '../../src/adapters/memory/index.js';
import { createPostgresEventStore } from '../../src/adapters/postgres/index.js';
import { createSqliteEventStore } from '../../src/adapters/sqlite/index.js';
import type { EventStore } from '../../src/domain/event-store.js';
import { defineOperation, step } from '../../src/domain/operation-definition.js';
import { resourceStreamName } from '../../src/domain/stream-names.js';
import { createEngine } from '../../src/engine/engine.js';
import type { Recorder } from '../lib/measure.js';
import { createDatabase, dropDatabase } from '../lib/postgres.js';
import { RESULT_MARKER } from '../lib/protocol.js';
import { fillResourceHistory } from '../lib/resource-history.js';

export interface LongHistorySizes {
  /** Past operations on the resource, one measurement each. */
  pastOperations: number[];
}

export interface LongHistoryOptions {
  store: 'memory' | 'sqlite' | 'postgres';
  run: number;
  sizes: LongHistorySizes;
  postgresUrl?: string;
}

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const compiled = import.meta.url.endsWith('.js');
const environment = 'bench';
const resource = { type: 'app', handle: 'web' };
const noop = () => undefined;
const deploy = defineOperation({
  type: 'deploy',
  steps: [step({ name: 'deploy', run: noop, undo: noop })],
});

/** One operation on the resource by a new engine: start() to result, in ms. */
export const timeFirstOperation = async (store: EventStore): Promise<number> => {
  const engine = createEngine({ store, operations: [deploy] });
  const started = performance.now();
  const handle = await engine.start({
    type: 'deploy',
    environment,
    resource,
    user: 'bench@example.com',
    params: {},
  });
  const result = await handle.result;
  const ms = performance.now() - started;
  if (result.status !== 'succeeded') throw new Error(result.summary);
  await engine.shutdown();
  return ms;
};

/** The first operation of a new process (bench/first-operation.ts) on the store at `url`. */
const inNewProcess = (url: string): Promise<number> =>
  new Promise((resolveMs, reject) => {
    const child = spawn(
      process.execPath,
      // Compiled (bench/lib/compiled.ts) beside this file, or through tsx when run from src.
      compiled
        ? [join(root, 'bench', 'first-operation.js'), url]
        : ['--import', 'tsx', join(root, 'bench', 'first-operation.ts'), url],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER));
      if (code !== 0 || !line) reject(new Error(`first operation failed:\n${stderr.slice(-4000)}`));
      else resolveMs((JSON.parse(line.slice(RESULT_MARKER.length)) as { ms: number }).ms);
    });
  });

interface Subject {
  /** Opens the store for the fill (and, in memory, for every "process"). */
  open(): EventStore;
  /** The first operation of a new process on it. */
  first(): Promise<number>;
  dispose(): Promise<void>;
}

const subjectFor = async (o: LongHistoryOptions, past: number): Promise<Subject> => {
  switch (o.store) {
    case 'memory': {
      // A memory store dies with its process: each "new process" is a new engine (nothing
      // folded, no cache) on the same store object, in this process.
      const store = createInMemoryEventStore();
      const shared = { ...store, close: async () => undefined };
      return {
        open: () => shared,
        first: () => timeFirstOperation(shared),
        dispose: () => store.close(),
      };
    }
    case 'sqlite': {
      const folder = mkdtempSync(join(tmpdir(), 'opledger-bench-history-'));
      const path = join(folder, 'events.db');
      return {
        open: () => createSqliteEventStore({ path, synchronous: 'normal' }),
        first: () => inNewProcess(`sqlite:${path}`),
        dispose: async () => rmSync(folder, { recursive: true, force: true }),
      };
    }
    case 'postgres': {
      const name = `opledger_history_${o.run}_${past}`;
      const url = await createDatabase(o.postgresUrl!, name);
      return {
        open: () => createPostgresEventStore({ connectionString: url }),
        first: () => inNewProcess(url),
        dispose: () => dropDatabase(o.postgresUrl!, name),
      };
    }
  }
};

/**
 * Workload 5 (issue 22): a resource with `past` operations behind it, their queue events
 * appended straight to its stream (no snapshot: a store written before snapshots existed),
 * then the first operation of a new process, twice: the first after the upgrade (it folds the
 * whole stream once and writes the first snapshot), then the one every later process pays.
 */
export const runLongHistory = async (o: LongHistoryOptions, rec: Recorder): Promise<void> => {
  const table = `long-history-${o.store}`;
  if (o.store === 'memory') {
    // Its "new processes" share this one: warm the code up first, so that the first size
    // measured does not also pay for the compiler.
    const warm = await subjectFor(o, 10);
    await fillResourceHistory(warm.open(), resourceStreamName(environment, resource), 10);
    for (let i = 0; i < 20; i++) await warm.first();
    await warm.dispose();
  }
  let base: number | undefined;
  for (const past of o.sizes.pastOperations) {
    const subject = await subjectFor(o, past);
    try {
      const filler = subject.open();
      const t0 = performance.now();
      await fillResourceHistory(filler, resourceStreamName(environment, resource), past);
      const fillSeconds = (performance.now() - t0) / 1000;
      await filler.close();
      const upgrade = await subject.first();
      const steady = await subject.first();
      base ??= steady;
      const row = `${past.toLocaleString('en-US')} past operations`;
      rec.set(table, row, 'first operation, new process', steady, 'ms');
      rec.set(table, row, 'vs 10 past operations', steady / base, 'x');
      rec.set(table, row, 'first run after the upgrade (once)', upgrade, 'ms');
      rec.set(table, row, 'fill (not the engine)', fillSeconds, 's');
    } finally {
      await subject.dispose();
    }
  }
};
