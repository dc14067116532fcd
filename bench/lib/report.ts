import type { Summary } from './stats.js';

export interface Figure extends Summary {
  table: string;
  row: string;
  column: string;
  unit: string;
}

export interface TargetResult {
  name: string;
  figure: string;
  threshold: number;
  at: 'least' | 'most';
  median: number;
  min: number;
  max: number;
  unit: string;
  met: boolean;
}

/** How one workload was run: every figure of the workload comes from this one invocation. */
export interface RunMeta {
  mode: 'full' | 'quick';
  date: string;
  durationSeconds: number;
  command: string;
  node: string;
  /** What the children ran; absent in results measured before it was recorded (src/ through tsx). */
  code?: string;
  machine: { cpu: string; cores: number; ramGiB: number; os: string };
  quiet: { noVitestAtStart: boolean; noVitestBeforeEachRun: boolean; loadAverageAtStart: number[] };
  postgres?: { version: string; origin: string };
  runs: number;
  sizes: unknown;
}

export interface Results {
  workloads: Record<string, { meta: RunMeta; figures: Figure[] }>;
  targets: TargetResult[];
  notes: string[];
}

const TITLES: Record<string, string> = {
  'appends-memory':
    'Workload 1: appends and reads, in memory (opledger vs Emmett 0.42.0 in-memory store)',
  'appends-sqlite': 'Workload 1: appends and reads, SQLite (opledger vs raw better-sqlite3)',
  'appends-postgres':
    'Workload 1: appends and reads, PostgreSQL (opledger vs Emmett 0.42.0 PostgreSQL vs raw node-postgres)',
  'engine-sequential': 'Workload 2: engine, 5 no-op steps per operation, one operation at a time',
  'engine-concurrent': 'Workload 2: engine, 5 no-op steps per operation, 16 operations in flight',
  'projections-memory': 'Workload 3: projections, in-memory event store and read store',
  'projections-sqlite': 'Workload 3: projections, SQLite event store and read store (one file)',
  'live-delivery-postgres':
    'Workload 4: PostgreSQL live delivery, append acknowledged to subscriber',
  'long-history-memory':
    'Workload 5: first operation of a new process on a resource with a long history, in memory (a new engine on the same store)',
  'long-history-sqlite':
    'Workload 5: first operation of a new process on a resource with a long history, SQLite',
  'long-history-postgres':
    'Workload 5: first operation of a new process on a resource with a long history, PostgreSQL',
};

/** Rows in this order when present; the others after them, as they came. */
const ROW_ORDER = [
  'sequential',
  'concurrent',
  'batches',
  'read every stream',
  'read the whole log',
  'direct calls',
  'engine, memory',
  'engine, sqlite',
  'rebuild',
  'CSV export',
];

const COLUMN_ORDER = ['opledger', 'emmett', 'raw', 'opledger / emmett', 'opledger / raw'];

const format = (value: number, unit: string): string => {
  if (!Number.isFinite(value)) return 'n/a';
  if (unit === 'x') return `${value.toFixed(2)}x`;
  const digits = Math.abs(value) >= 1000 ? 0 : Math.abs(value) >= 100 ? 1 : 2;
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
};

const cell = (f: Figure | undefined): string => {
  if (!f) return '';
  const range = f.runs.length > 1 ? ` (${format(f.min, f.unit)} – ${format(f.max, f.unit)})` : '';
  return `**${format(f.median, f.unit)}**${range}`;
};

const tableOf = (figures: Figure[], table: string): string => {
  const mine = figures.filter((f) => f.table === table);
  const rank = (r: string) => {
    const i = ROW_ORDER.indexOf(r);
    return i === -1 ? ROW_ORDER.length : i;
  };
  const rows = [...new Set(mine.map((f) => f.row))].sort((a, b) => rank(a) - rank(b));
  const columnRank = (c: string) => {
    const i = COLUMN_ORDER.indexOf(c);
    return i === -1 ? COLUMN_ORDER.length : i;
  };
  const columns = [...new Set(mine.map((f) => f.column))].sort(
    (a, b) => columnRank(a) - columnRank(b),
  );
  const unitOf = (c: string) => mine.find((f) => f.column === c)?.unit ?? '';
  const header = `| | ${columns.map((c) => `${c} (${unitOf(c)})`).join(' | ')} |`;
  const rule = `|---|${columns.map(() => '---:').join('|')}|`;
  const lines = rows.map(
    (r) =>
      `| ${r} | ${columns.map((c) => cell(mine.find((f) => f.row === r && f.column === c))).join(' | ')} |`,
  );
  return [`### ${TITLES[table] ?? table}`, '', header, rule, ...lines, ''].join('\n');
};

const HEADINGS: Record<string, string> = {
  appends: 'Workload 1: appends and reads',
  engine: 'Workload 2: the engine',
  projections: 'Workload 3: projections',
  'live-delivery': 'Workload 4: PostgreSQL live delivery',
  'long-history': 'Workload 5: a resource with a long history (issue 22)',
};

const metaTable = (m: RunMeta): string[] => {
  const quiet =
    m.quiet.noVitestAtStart && m.quiet.noVitestBeforeEachRun
      ? 'yes: no test run (vitest) during any measured run (the harness waits for one to end, and measures again a run that one overlapped)'
      : '**no**: a test run (vitest) overlapped some runs, even after measuring them again';
  return [
    '| | |',
    '|---|---|',
    `| command | \`${m.command}\` |`,
    `| date | ${m.date} (took ${Math.max(1, Math.round(m.durationSeconds / 60))} min) |`,
    `| machine | ${m.machine.cpu}, ${m.machine.cores} cores, ${m.machine.ramGiB} GiB RAM, ${m.machine.os} |`,
    `| Node.js | ${m.node} |`,
    `| code | ${m.code ?? "src/ through tsx (before 2026-12-04: esbuild's keepNames wrapping every function made at run time, a cost the package does not have)"} |`,
    `| runs | ${m.runs} measured runs, each in a fresh process after its own warm-up |`,
    `| quiet machine | ${quiet}; load average at start ${m.quiet.loadAverageAtStart.join(' / ')} |`,
    ...(m.postgres ? [`| PostgreSQL | ${m.postgres.version}, ${m.postgres.origin} |`] : []),
    `| sizes | \`${JSON.stringify(m.sizes)}\` |`,
    '',
  ];
};

export const renderMarkdown = (results: Results, analysis: string): string => {
  const out: string[] = [];
  const quick = Object.values(results.workloads).some((w) => w.meta.mode === 'quick');
  out.push('# opledger benchmarks', '');
  if (quick) out.push('**Quick mode**: small sizes, one run; these figures mean nothing.', '');
  out.push(
    'Generated by `bench/run.ts` (`npm run bench`); the analysis after the figures comes from ' +
      '`bench/NOTES.md`. Each figure is the **median** of the runs, with (min – max). Each run is a ' +
      'child process of the harness that first warms every contestant up on a small data set, then ' +
      'measures the contestants in turn on the same data, in an order that flips from one run (and ' +
      'phase) to the next. Ratios are computed within each run, then summarised.',
    '',
  );
  if (results.targets.length > 0) {
    out.push(
      '## Targets (issue 7)',
      '',
      '| target | median (min – max) | met |',
      '|---|---:|:---:|',
    );
    for (const t of results.targets) {
      const f = {
        median: t.median,
        min: t.min,
        max: t.max,
        unit: t.unit,
        runs: [t.min, t.max],
      } as Figure;
      out.push(
        `| ${t.name} | ${cell(f)}${t.unit === 'x' ? '' : ` ${t.unit}`} | ${t.met ? 'yes' : '**no**'} |`,
      );
    }
    out.push('');
  }
  for (const [workload, { meta, figures }] of Object.entries(results.workloads)) {
    out.push(`## ${HEADINGS[workload] ?? workload}`, '', ...metaTable(meta));
    for (const table of [...new Set(figures.map((f) => f.table))])
      out.push(tableOf(figures, table));
  }
  if (results.notes.length > 0)
    out.push('## Notes from the runs', '', ...results.notes.map((n) => `- ${n}`), '');
  if (analysis.trim()) out.push(analysis.trim(), '');
  return `${out.join('\n')}\n`;
};
