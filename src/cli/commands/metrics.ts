import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makeFolder } from '../../adapters/make-folder.js';
import { createDeliveryMetrics } from '../../projections/delivery-metrics.js';
import {
  deliveryMetricsCsv,
  deliveryMetricsRows,
  weeklyDeliveryMetricsCsv,
  weeklyDeliveryMetricsRows,
} from '../../projections/metrics-table.js';
import { CliError, EXIT_OK } from '../cli-error.js';
import { println, printJson, type CliIo } from '../cli-io.js';
import { formatTable } from '../render.js';
import { reads, withStore, type GlobalOptions } from './with-store.js';

export interface MetricsOptions extends GlobalOptions {
  env: string;
  app?: string;
  from?: string;
  to?: string;
  /** Write the table as CSV to this file. */
  out?: string;
  /** Week by week (ISO weeks, UTC): a `week` column in the table and CSV, an array in JSON. */
  weekly?: boolean;
}

const DAY = 86_400_000;

/** The last 30 days up to the next midnight UTC, unless --from and --to say otherwise. */
const rangeOf = (options: MetricsOptions, now: Date) => {
  if ((options.from === undefined) !== (options.to === undefined)) {
    throw new CliError('a range needs both --from and --to', {
      hint: 'for example --from 2026-11-01 --to 2026-12-01 (dates are UTC; --to is exclusive)',
    });
  }
  if (options.from !== undefined && options.to !== undefined) {
    return { from: options.from, to: options.to };
  }
  const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) + DAY;
  return {
    from: new Date(end - 30 * DAY).toISOString(),
    to: new Date(end).toISOString(),
  };
};

export const metricsCommand = (options: MetricsOptions, io: CliIo) =>
  withStore(
    options,
    async (session) => {
      const { eventStore: store, readStore } = session.stores;
      const delivery = createDeliveryMetrics({ store, readStore });
      // A read-only file is read as it is: its delivery documents may lag its events.
      if (!session.readOnly) await delivery.projection.catchUp();
      const query = {
        environment: options.env,
        ...(options.app !== undefined ? { app: options.app } : {}),
        ...rangeOf(options, new Date()),
      };
      const scope = `${options.env}${options.app ? ` (app ${options.app})` : ''}`;
      if (options.weekly) {
        const weeks = await delivery.weekly(query);
        if (options.out) {
          makeFolder(dirname(options.out));
          await writeFile(options.out, weeklyDeliveryMetricsCsv(weeks));
          println(io.err, `Wrote the weekly delivery metrics of ${options.env} to ${options.out}`);
          return EXIT_OK;
        }
        if (options.json) {
          printJson(io.out, weeks);
          return EXIT_OK;
        }
        println(io.out, `Delivery metrics of ${scope} week by week, ${weeks.length} ISO weeks`);
        println(
          io.out,
          formatTable(
            ['WEEK', 'METRIC', 'ABOUT', 'VALUE'],
            weeklyDeliveryMetricsRows(weeks).map((r) => [
              r.week,
              r.metric,
              r.about,
              r.value || '-',
            ]),
          ),
        );
        return EXIT_OK;
      }
      const metrics = await delivery.metrics(query);
      if (options.out) {
        makeFolder(dirname(options.out));
        await writeFile(options.out, deliveryMetricsCsv(metrics));
        println(io.err, `Wrote the delivery metrics of ${options.env} to ${options.out}`);
        return EXIT_OK;
      }
      if (options.json) {
        printJson(io.out, metrics);
        return EXIT_OK;
      }
      println(io.out, `Delivery metrics of ${scope}, ${metrics.from} to ${metrics.to}`);
      println(
        io.out,
        formatTable(
          ['METRIC', 'ABOUT', 'VALUE'],
          deliveryMetricsRows(metrics).map((r) => [r.metric, r.about, r.value || '-']),
        ),
      );
      return EXIT_OK;
    },
    { access: reads('metrics', io) },
  );
