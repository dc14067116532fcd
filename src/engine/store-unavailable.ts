import { OpledgerError } from '../domain/errors.js';

/** The store call that waited. */
export type StoreCall =
  'append' | 'readStream' | 'readAll' | 'headPosition' | 'subscribe' | 'currentTime';

export const seconds = (ms: number): string => (ms / 1000).toFixed(1);

export const causeText = (cause: unknown): string => {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${cause.message || cause.name}${typeof code === 'string' && !cause.message.includes(code) ? ` (${code})` : ''}`;
  }
  return String(cause);
};

/**
 * The event store stayed unreachable for longer than the outage budget. Nothing is half-written
 * (every append is whole or absent); the operations this process was running are left as their
 * events say, for `engine.recover()` (or a worker's takeover) once the store is back.
 */
export class StoreUnavailableError extends OpledgerError {
  constructor(
    /** Where the store is (host:port/database, or a file). */
    readonly host: string,
    /** How long the call that gave up waited, in ms. */
    readonly unreachableMs: number,
    /** The call that gave up. */
    readonly call: StoreCall,
    /** The last error the store gave. */
    readonly lastCause: unknown,
  ) {
    super(
      'STORE_UNAVAILABLE',
      `The event store at ${host} was unreachable for ${seconds(unreachableMs)} s, longer than the outage budget (storeOutage.maxMs); last error: ${causeText(lastCause)}. Nothing was half-written. Operations this process was running are left as their events say: once the store answers again, call engine.recover() (or let a worker take them over) to finish or roll them back. Raise storeOutage.maxMs to wait longer.`,
      { cause: lastCause },
    );
  }
}

/** What the decorator tells `onOutage`, for people waiting (the CLI prints it). */
export type StoreOutageNotice =
  | {
      /** The store failed and is being called again; sent at most every `noticeEveryMs`. */
      kind: 'waiting';
      host: string;
      /** Since the first failure of the outage (of any call). */
      unreachableMs: number;
      cause: unknown;
    }
  | {
      /** A call succeeded after the outage: the store is back. Sent once per outage. */
      kind: 'recovered';
      host: string;
      unreachableMs: number;
    }
  | {
      /** A call ran out of budget and failed with `error`. */
      kind: 'gave_up';
      host: string;
      unreachableMs: number;
      error: StoreUnavailableError;
    };
