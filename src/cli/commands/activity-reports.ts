import { createWriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isoWeekOf } from '../../projections/iso-week.js';
import type { ReportRange } from '../../projections/read-model.js';
import { CliError, EXIT_OK } from '../cli-error.js';
import { println, printJson, type CliIo } from '../cli-io.js';
import { createProgress } from '../progress.js';
import { formatTable } from '../render.js';
import { reads, withStore, type GlobalOptions } from './with-store.js';
import { makeFolder } from '../../adapters/make-folder.js';

export interface ActivityReportOptions extends GlobalOptions {
  env: string;
  week?: string;
  from?: string;
  to?: string;
  out?: string;
}

export const rangeOf = (options: ActivityReportOptions, now: Date): ReportRange => {
  if (options.week && (options.from || options.to)) {
    throw new CliError('pass either --week or --from and --to, not both');
  }
  if (options.from || options.to) {
    if (!options.from || !options.to) {
      throw new CliError('a custom range needs both --from and --to', {
        hint: 'for example --from 2026-11-01 --to 2026-12-01 (dates are UTC; --to is exclusive)',
      });
    }
    return { from: options.from, to: options.to };
  }
  return { week: options.week ?? isoWeekOf(now) };
};

export const activityReportCommand = (options: ActivityReportOptions, io: CliIo) =>
  withStore(
    options,
    async (session) => {
      const range = rangeOf(options, new Date());
      if (options.json) {
        const rows = [];
        for await (const row of session.readModel.activityReportRows(options.env, range)) {
          rows.push(row);
        }
        printJson(io.out, rows);
        return EXIT_OK;
      }
      // The total, when the range is a week, makes the progress bar a bar.
      const total =
        'week' in range
          ? (await session.readModel.activityReports(options.env)).find(
              (r) => r.week === range.week,
            )?.operations
          : undefined;
      const progress = options.out ? createProgress('Exporting', io.err, { unit: 'rows' }) : null;
      const csv = await session.readModel.activityReportCsv(options.env, range, {
        ...(progress ? { onRow: (n: number) => progress.update(n, total) } : {}),
      });
      if (!options.out) {
        await pipeline(csv, io.out, { end: false });
        return EXIT_OK;
      }
      makeFolder(dirname(options.out));
      await pipeline(csv, createWriteStream(options.out));
      progress?.finish();
      println(io.err, `Wrote the activity report of ${options.env} to ${options.out}`);
      return EXIT_OK;
    },
    { access: reads('activity-report', io) },
  );

export const activityReportsCommand = (options: GlobalOptions & { env: string }, io: CliIo) =>
  withStore(
    options,
    async (session) => {
      const reports = await session.readModel.activityReports(options.env);
      if (options.json) {
        printJson(io.out, reports);
        return EXIT_OK;
      }
      println(
        io.out,
        formatTable(
          ['WEEK', 'FROM', 'TO', 'OPERATIONS'],
          reports.map((r) => [r.week, r.from, r.to, String(r.operations)]),
        ),
      );
      return EXIT_OK;
    },
    { access: reads('activity-reports', io) },
  );
