/** What a workload child reports for one run: flat measurements keyed table::row::column. */
export interface RunReport {
  values: Record<string, number>;
  units: Record<string, string>;
  notes?: string[];
}

export const key = (table: string, row: string, column: string): string =>
  `${table}::${row}::${column}`;

export const createReport = () => {
  const report: RunReport = { values: {}, units: {}, notes: [] };
  return {
    report,
    set(table: string, row: string, column: string, value: number, unit: string) {
      report.values[key(table, row, column)] = value;
      report.units[key(table, row, column)] = unit;
    },
    note(text: string) {
      report.notes!.push(text);
    },
  };
};

export type Recorder = ReturnType<typeof createReport>;

export const seconds = async (work: () => Promise<unknown>): Promise<number> => {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
};

/** Alternates who goes first from one run to the next, so that neither always runs warm. */
export const inRunOrder = <T>(items: readonly T[], run: number): T[] =>
  run % 2 === 0 ? [...items] : [...items].reverse();

export const forceGc = () => {
  (globalThis as { gc?: () => void }).gc?.();
};
