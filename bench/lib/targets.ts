import type { Figure, Results, TargetResult } from './report.js';

interface Target {
  name: string;
  workload: string;
  table: string;
  row: string;
  column: string;
  at: 'least' | 'most';
  threshold: number;
}

const WRITE_PHASES = ['sequential', 'concurrent', 'batches'];

/** The targets of issue 7, each read off one figure's median. */
const TARGETS: Target[] = [
  ...WRITE_PHASES.map((row): Target => ({
    name: `appends, memory, ${row}: at least 3x Emmett`,
    workload: 'appends',
    table: 'appends-memory',
    row,
    column: 'opledger / emmett',
    at: 'least',
    threshold: 3,
  })),
  ...WRITE_PHASES.map((row): Target => ({
    name: `appends, PostgreSQL, ${row}: at least 2x Emmett`,
    workload: 'appends',
    table: 'appends-postgres',
    row,
    column: 'opledger / emmett',
    at: 'least',
    threshold: 2,
  })),
  ...(['sqlite', 'postgres'] as const).flatMap((store) =>
    WRITE_PHASES.map((row): Target => ({
      name: `appends, ${store === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, ${row}: at least 80% of the raw driver`,
      workload: 'appends',
      table: `appends-${store}`,
      row,
      column: 'opledger / raw',
      at: 'least',
      threshold: 0.8,
    })),
  ),
  ...(['engine-sequential', 'engine-concurrent'] as const).map((table): Target => ({
    name: `engine, memory, ${table === 'engine-sequential' ? 'one at a time' : 'in flight together'}: at least 20,000 operations/s`,
    workload: 'engine',
    table,
    row: 'engine, memory',
    column: 'operations/s',
    at: 'least',
    threshold: 20_000,
  })),
  {
    name: 'projections, memory: rebuild at least 500,000 events/s',
    workload: 'projections',
    table: 'projections-memory',
    row: 'rebuild',
    column: 'events/s',
    at: 'least',
    threshold: 500_000,
  },
  ...(['memory', 'sqlite'] as const).map((store): Target => ({
    name: `projections, ${store === 'sqlite' ? 'SQLite' : 'memory'}: CSV export under 100 MB RSS growth`,
    workload: 'projections',
    table: `projections-${store}`,
    row: 'CSV export',
    column: 'peak RSS growth',
    at: 'most',
    threshold: 100,
  })),
  {
    name: 'PostgreSQL live delivery, 8 writers: p99 under 50 ms',
    workload: 'live-delivery',
    table: 'live-delivery-postgres',
    row: 'opledger, 8 writers',
    column: 'p99',
    at: 'most',
    threshold: 50,
  },
];

const find = (figures: Figure[], t: Target) =>
  figures.find((f) => f.table === t.table && f.row === t.row && f.column === t.column);

export const evaluateTargets = (results: Results): TargetResult[] =>
  TARGETS.flatMap((t) => {
    const figure = find(results.workloads[t.workload]?.figures ?? [], t);
    if (!figure) return [];
    const met = t.at === 'least' ? figure.median >= t.threshold : figure.median < t.threshold;
    return [
      {
        name: t.name,
        figure: `${t.table} / ${t.row} / ${t.column}`,
        threshold: t.threshold,
        at: t.at,
        median: figure.median,
        min: figure.min,
        max: figure.max,
        unit: figure.unit,
        met,
      },
    ];
  });
