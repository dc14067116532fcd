import { createWriteStream } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { OperationResult } from '../../engine/operation-result.js';
import { isoWeekOf } from '../../projections/iso-week.js';
import { CliError, EXIT_FAILED, EXIT_OK } from '../cli-error.js';
import { opledgerCommand, println, type CliIo } from '../cli-io.js';
import { operationsTable } from '../render.js';
import { displayUrl, type StoreSession } from '../store-session.js';
import type { GlobalOptions } from './with-store.js';
import { makeFolder } from '../../adapters/make-folder.js';

export interface SummaryOptions extends GlobalOptions {
  env: string;
  out?: string;
}

export const succeeded = (r: OperationResult) => r.status === 'succeeded';

/** A scene of a demo ends as it shows, or the demo fails loudly, naming the log to read. */
export const checkScene = (
  scene: { title: string; expect: (result: OperationResult) => boolean },
  result: OperationResult,
  io: CliIo,
) => {
  if (scene.expect(result)) return;
  throw new CliError(`the demo's step '${scene.title}' did not end as it should`, {
    hint: `read its log: ${opledgerCommand(io.env)} operation:logs ${result.id}`,
    exitCode: EXIT_FAILED,
  });
};

const writeReport = async (session: StoreSession, env: string, week: string, out: string) => {
  makeFolder(dirname(out));
  const csv = await session.readModel.activityReportCsv(env, { week });
  await pipeline(csv, createWriteStream(out));
};

/**
 * The end of a demo run, simulated or local: the operations it ran as the Operation Logs'
 * projection has them, the week's Activity Report written to a CSV file, and what to try next.
 */
export const summarise = async (
  session: StoreSession,
  options: SummaryOptions,
  results: readonly OperationResult[],
  now: Date,
  io: CliIo,
): Promise<number> => {
  await session.catchUp();
  const ids = new Set(results.map((r) => r.id));
  const page = await session.readModel.listOperations({
    environment: options.env,
    limit: Math.max(results.length, 1),
  });
  const week = isoWeekOf(now);
  const out = resolve(options.out ?? `.opledger/activity-report-${options.env}-${week}.csv`);
  await writeReport(session, options.env, week, out);
  println(io.out);
  println(io.out, `== The operations of this run, newest first`);
  println(io.out, operationsTable(page.items.filter((op) => ids.has(op.id))));
  println(io.out);
  println(
    io.out,
    `Wrote the activity report of ${options.env} for ${week} to ${relative(process.cwd(), out)}`,
  );
  println(io.out);
  if (session.url.trim() === 'memory:') {
    println(
      io.out,
      'The memory: store is gone now; run the demo on the default store to explore it.',
    );
    return EXIT_OK;
  }
  // A password stays out of what is printed: the commands name the store as it was given.
  const storeFlag = options.store ? ` --store ${displayUrl(options.store)}` : '';
  const failed = results.find((r) => r.status === 'failed');
  const cli = opledgerCommand(io.env);
  println(io.out, 'Try next:');
  println(io.out, `  ${cli} operations --env ${options.env}${storeFlag}`);
  if (failed) println(io.out, `  ${cli} operation:logs ${failed.id}${storeFlag}`);
  println(io.out, `  ${cli} activity-reports --env ${options.env}${storeFlag}`);
  println(io.out, `  ${cli} activity-report --env ${options.env} --week ${week}${storeFlag}`);
  println(io.out, `  ${cli} metrics --env ${options.env}${storeFlag}`);
  println(io.out, `  ${cli} run app.provision --env ${options.env} --resource app:api${storeFlag}`);
  return EXIT_OK;
};
