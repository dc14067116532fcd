import { lastValueFrom, tap } from 'rxjs';
import { systemClock } from '../../engine/clock.js';
import { createEngine } from '../../engine/engine.js';
import { operationStreamName } from '../../engine/operation-stream.js';
import type { LogLine } from '../../domain/log-lines.js';
import { renderLogLine } from '../../projections/read-model.js';
import { EXIT_FAILED, EXIT_OK } from '../cli-error.js';
import { println, printJson, type CliIo } from '../cli-io.js';
import { withStore, type GlobalOptions } from './with-store.js';

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
    { catchUp: true },
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
      const engine = createEngine({ store: session.stores.eventStore, operations: [] });
      // Fails with OPERATION_NOT_FOUND before following a stream that will never exist.
      await engine.getOperation(id);
      await lastValueFrom(engine.logs(id).pipe(tap(logPrinter(io, options.json))), {
        defaultValue: undefined,
      });
      const result = await engine.result(id);
      if (options.json) io.out.write(`${JSON.stringify({ kind: 'result', ...result })}\n`);
      else println(io.err, result.summary);
      return result.status === 'succeeded' ? EXIT_OK : EXIT_FAILED;
    },
    { catchUp: false },
  );

export interface CancelOptions extends GlobalOptions {
  user: string;
}

export const operationCancelCommand = (id: string, options: CancelOptions, io: CliIo) =>
  withStore(
    options,
    async (session) => {
      const store = session.stores.eventStore;
      // Operations run by `opledger run` carry simulated time, which runs ahead of the wall
      // clock: the cancel is stamped no earlier than the operation's last event.
      const [last] = await store.readStream(operationStreamName(id), {
        direction: 'backwards',
        maxCount: 1,
      });
      const lastAt = Date.parse(String((last?.data as { at?: unknown } | undefined)?.at ?? ''));
      const clock = {
        ...systemClock,
        now: () => new Date(Math.max(Date.now(), Number.isNaN(lastAt) ? 0 : lastAt + 1)),
      };
      const engine = createEngine({ store, operations: [], clock });
      const outcome = await engine.cancel(id, { user: options.user });
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
        println(io.out, `Follow it with: opledger operation:follow ${id}`);
      }
      return EXIT_OK;
    },
    { catchUp: false },
  );
