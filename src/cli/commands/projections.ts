import { OPERATIONS_PROJECTION } from '../../projections/projector.js';
import type { SkippedEvent } from '../../projections/read-store.js';
import { CliError, EXIT_OK } from '../cli-error.js';
import { println, printJson, type CliIo } from '../cli-io.js';
import { createProgress } from '../progress.js';
import { withStore, writes, type GlobalOptions } from './with-store.js';

export const rebuildCommand = (options: GlobalOptions, io: CliIo) =>
  withStore(
    options,
    async (session) => {
      const progress = createProgress('Rebuilding', io.err, { unit: 'events' });
      const position = await session.projector.rebuild((done, head) =>
        progress.update(Number(done), Number(head)),
      );
      progress.finish();
      // The skips an operator recorded are kept by the rebuild and passed over again: say so.
      const skipped = (await session.stores.readStore.skippedEvents(OPERATIONS_PROJECTION)).filter(
        (s) => BigInt(s.position) <= position,
      );
      if (options.json) {
        printJson(io.out, { position: position.toString(), skipped });
        return EXIT_OK;
      }
      for (const s of skipped) println(io.err, skippedLine(s));
      println(io.out, `Rebuilt the read models up to position ${position}.`);
      return EXIT_OK;
    },
    // A rebuild replaces the read models: catching them up first would be wasted, or stop at
    // the very event the rebuild is run to get past.
    { catchUp: false, access: writes('projections:rebuild') },
  );

/** One recorded skip, in words. */
export const skippedLine = (s: SkippedEvent): string =>
  `Skipped the event at position ${s.position} (stream '${s.stream}', revision ${s.revision}): skipped by ${s.user} at ${s.at}, because: ${s.reason}`;

export interface SkipOptions extends GlobalOptions {
  position: string;
  user: string;
  reason: string;
}

export const skipCommand = (options: SkipOptions, io: CliIo) =>
  withStore(
    options,
    async (session) => {
      if (!/^[1-9]\d*$/.test(options.position)) {
        throw new CliError(`--position '${options.position}' is not a global position`, {
          hint: 'pass the position the error names: "Stored event at position N ..."',
        });
      }
      const skip = await session.projector.skip(BigInt(options.position), {
        user: options.user,
        reason: options.reason,
      });
      if (options.json) printJson(io.out, skip);
      else {
        println(io.out, skippedLine(skip));
        println(
          io.out,
          'Recorded in the read store with the checkpoint that moves past it; the event stays in the event store as it is, and a rebuild skips it the same way.',
        );
      }
      // Then the events after it, as any read would.
      await session.catchUp();
      return EXIT_OK;
    },
    { catchUp: false, access: writes('projections:skip') },
  );
