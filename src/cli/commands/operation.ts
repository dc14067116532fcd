import { lastValueFrom, tap } from 'rxjs';
import type { LogLine } from '../../domain/log-lines.js';
import { renderLogLine } from '../../projections/read-model.js';
import { EXIT_FAILED, EXIT_OK } from '../cli-error.js';
import { opledgerCommand, println, printJson, type CliIo } from '../cli-io.js';
import { cancelOperation, followFeed, observerClient } from '../../engine/operation-access.js';
import { storeOutageMsOf, storeOutagePrinter } from '../store-outage-notice.js';
import { reads, withStore, writes, type GlobalOptions } from './with-store.js';

export const operationLogsCommand = (id: string, options: GlobalOptions, io: CliIo) =>
  withStore(
    options,
    async (session) => {
      if (options.json) {
        const [operation, lines] = await Promise.all([
          session.readModel.operation(id),
          session.readModel.logs(id),
        ]);
        printJson(io.out, { operation, lines });
      } else {
        io.out.write(await session.readModel.logText(id));
      }
      return EXIT_OK;
    },
    { catchUp: true, access: reads('operation:logs', io) },
  );

/** Prints a log line as it arrives: text, or one JSON object per line with --json. */
export const logPrinter = (io: CliIo, json: boolean | undefined) => (line: LogLine) => {
  if (json) io.out.write(`${JSON.stringify({ kind: 'log', ...line })}\n`);
  else println(io.out, renderLogLine(line));
};

export const operationFollowCommand = (id: string, options: GlobalOptions, io: CliIo) =>
  withStore(
    options,
    async (session) => {
      // An outage of the store is waited out (saying so), and the follow resubscribes after the
      // last event it got: every line printed once. OPLEDGER_STORE_OUTAGE_MS sets the budget.
      const maxMs = storeOutageMsOf(io.env);
      const client = observerClient(session.stores.eventStore, undefined, {
        ...(maxMs === undefined ? {} : { maxMs }),
        onOutage: storeOutagePrinter(io, options.json),
      });
      // Fails with OPERATION_NOT_FOUND before following a stream that will never exist.
      await client.getOperation(id);
      const printLine = logPrinter(io, options.json);
      const last = await lastValueFrom(
        followFeed(client, id).pipe(tap((event) => event.kind === 'log' && printLine(event.line))),
      );
      if (last.kind !== 'result') throw new Error(`the log of ${id} ended without its result`);
      const { result } = last;
      if (options.json) io.out.write(`${JSON.stringify({ kind: 'result', ...result })}\n`);
      else println(io.err, result.summary);
      return result.status === 'succeeded' ? EXIT_OK : EXIT_FAILED;
    },
    { catchUp: false, access: reads('operation:follow', io) },
  );

export interface CancelOptions extends GlobalOptions {
  user: string;
}

export const operationCancelCommand = (id: string, options: CancelOptions, io: CliIo) =>
  withStore(
    options,
    async (session) => {
      const outcome = await cancelOperation(session.stores.eventStore, id, options.user);
      if (options.json) {
        printJson(io.out, outcome);
      } else if (outcome.alreadyRequested) {
        println(
          io.out,
          `Operation ${id} is already being cancelled or rolled back (${outcome.status}).`,
        );
      } else {
        println(
          io.out,
          `Cancellation of operation ${id} requested: it stops at its next cancellable point and rolls back.`,
        );
        println(io.out, `Follow it with: ${opledgerCommand(io.env)} operation:follow ${id}`);
      }
      return EXIT_OK;
    },
    { catchUp: false, access: writes('operation:cancel') },
  );
