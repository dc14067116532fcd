import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';

const run = promisify(execFile);

/** Every table each workload must report, and the columns whose medians must be numbers. */
const EXPECTED: Record<string, Record<string, string[]>> = {
  appends: {
    'appends-memory': ['opledger', 'emmett', 'opledger / emmett'],
    'appends-sqlite': [
      'opledger',
      'opledger, groupCommit off',
      'raw',
      'opledger / raw',
      'opledger, groupCommit off / raw',
    ],
    'appends-postgres': ['opledger', 'emmett', 'raw', 'opledger / emmett', 'opledger / raw'],
  },
  engine: {
    'engine-sequential': ['operations/s', 'p50 latency', 'p99 latency', 'overhead per operation'],
    'engine-concurrent': ['operations/s', 'p50 latency', 'p99 latency', 'overhead per operation'],
  },
  projections: {
    'projections-memory': ['events/s', 'peak RSS', 'rows/s', 'peak RSS growth'],
    'projections-sqlite': ['events/s', 'peak RSS', 'rows/s', 'peak RSS growth'],
  },
  'live-delivery': { 'live-delivery-postgres': ['p50', 'p99'] },
  'long-history': {
    'long-history-memory': [
      'first operation, new process',
      'vs 10 past operations',
      'first run after the upgrade (once)',
    ],
    'long-history-sqlite': [
      'first operation, new process',
      'vs 10 past operations',
      'first run after the upgrade (once)',
    ],
    'long-history-postgres': [
      'first operation, new process',
      'vs 10 past operations',
      'first run after the upgrade (once)',
    ],
  },
};

interface Figure {
  table: string;
  column: string;
  median: unknown;
  min: unknown;
  max: unknown;
}

describe('the benchmark harness in --quick mode', () => {
  const out = mkdtempSync(join(tmpdir(), 'opledger-bench-test-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs every workload and writes numeric medians for each', { timeout: 360_000 }, async () => {
    // The tests' PostgreSQL server, when there is one, spares the harness a cluster of its own.
    const url = inject('postgresUrl');
    await run('npx', ['tsx', 'bench/run.ts', '--quick', '--out', out], {
      env: { ...process.env, ...(url ? { OPLEDGER_BENCH_POSTGRES_URL: url } : {}) },
      maxBuffer: 16 * 1024 * 1024,
    });

    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      workloads: Record<
        string,
        {
          meta: { mode: string; machine: { cpu: string }; node: string; code?: string };
          figures: Figure[];
        }
      >;
      targets: unknown[];
    };
    expect(Object.keys(results.workloads).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const [workload, tables] of Object.entries(EXPECTED)) {
      const { meta, figures } = results.workloads[workload]!;
      expect(meta.mode).toBe('quick');
      expect(meta.node).toBe(process.version);
      // The children run what the package ships, compiled by tsc, not src/ through tsx.
      expect(meta.code).toMatch(/compiled by tsc/);
      for (const [table, columns] of Object.entries(tables)) {
        for (const column of columns) {
          const mine = figures.filter((f) => f.table === table && f.column === column);
          expect(mine.length, `${table} / ${column}`).toBeGreaterThan(0);
          for (const f of mine) {
            for (const value of [f.median, f.min, f.max]) {
              expect(typeof value, `${table} / ${column}`).toBe('number');
              expect(Number.isFinite(value), `${table} / ${column}`).toBe(true);
            }
          }
        }
      }
    }
    expect(results.targets.length).toBeGreaterThan(0);
    expect(readFileSync(join(out, 'RESULTS.md'), 'utf8')).toContain('## Workload 1');
  });
});
