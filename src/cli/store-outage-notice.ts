import { StoreUnavailableError, type StoreOutageNotice } from '../engine/store-outage.js';
import { CliError } from './cli-error.js';
import { println, type CliIo } from './cli-io.js';
import type { SimulatedWorld } from './simulated-world.js';

const seconds = (ms: number) => (ms / 1000).toFixed(1);

const causeOf = (cause: unknown): string => {
  const code = (cause as { code?: unknown } | undefined)?.code;
  const message = cause instanceof Error ? cause.message : String(cause);
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
};

/**
 * Tells the person running a command that the event store is being waited for, and when it is
 * back: a line on stderr, or with `--json` an event on stdout (`store_waiting`,
 * `store_recovered`) beside the log lines. A give-up is not printed here: the command fails with
 * the StoreUnavailableError, which says what to do.
 */
export const storeOutagePrinter =
  (io: CliIo, json: boolean | undefined) =>
  (notice: StoreOutageNotice): void => {
    if (notice.kind === 'gave_up') return;
    if (json) {
      const { kind, host, unreachableMs } = notice;
      io.out.write(
        `${JSON.stringify({
          kind: kind === 'waiting' ? 'store_waiting' : 'store_recovered',
          host,
          unreachableMs,
          ...(notice.kind === 'waiting' ? { cause: causeOf(notice.cause) } : {}),
        })}\n`,
      );
      return;
    }
    println(
      io.err,
      notice.kind === 'waiting'
        ? `Waiting for the event store at ${notice.host}: unreachable for ${seconds(notice.unreachableMs)} s so far (${causeOf(notice.cause)})...`
        : `The event store at ${notice.host} is back after ${seconds(notice.unreachableMs)} s; going on.`,
    );
  };

/** OPLEDGER_STORE_OUTAGE_MS: how long `run` waits for an unreachable store (60 000 by default). */
export const storeOutageMsOf = (env: NodeJS.ProcessEnv): number | undefined => {
  const raw = env.OPLEDGER_STORE_OUTAGE_MS;
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  if (!(ms >= 0) || !Number.isFinite(ms)) {
    throw new CliError(`OPLEDGER_STORE_OUTAGE_MS '${raw}' is not a number of milliseconds`, {
      hint: 'set it to 0 (do not wait) or more; 60000 is the default',
    });
  }
  return ms;
};

/**
 * An operation whose store stayed away past the budget is left running in the store: the
 * world is abandoned (its lock kept, naming the operation) rather than closed, so that the next
 * run on this cloud finds this process gone and rolls the operation back.
 */
export const leaveForRecoveryIfStoreGone = async <T>(
  world: Pick<SimulatedWorld, 'abandon'>,
  work: () => Promise<T>,
): Promise<T> => {
  try {
    return await work();
  } catch (error) {
    if (error instanceof StoreUnavailableError) world.abandon();
    throw error;
  }
};
