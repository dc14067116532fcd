import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makeFolder } from '../../adapters/make-folder.js';
import { createDeliveryMetrics } from '../../projections/delivery-metrics.js';
import { deliveryMetricsCsv, deliveryMetricsRows } from '../../projections/metrics-table.js';
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
      const metrics = await delivery.metrics({
        environment: options.env,
        ...(options.app !== undefined ? { app: options.app } : {}),
        ...rangeOf(options, new Date()),
      });
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
      println(
        io.out,
        `Delivery metrics of ${options.env}${options.app ? ` (app ${options.app})` : ''}, ${metrics.from} to ${metrics.to}`,
      );
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
