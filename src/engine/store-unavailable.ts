import { OpledgerError } from '../domain/errors.js';

/** The store call that waited: an event store's, or a read store's (the projector's). */
export type StoreCall =
  | 'append'
  | 'appendToStreams'
  | 'readStream'
  | 'readAll'
  | 'headPosition'
  | 'subscribe'
  | 'currentTime'
  | ReadStoreCall;

/** The read-store calls that ride out outages (see projections/read-store-outage.ts). */
export type ReadStoreCall =
  | 'checkpoint'
  | 'transaction'
  | 'reset'
  | 'skippedEvents'
  | 'projectionVersion'
  | 'resetProjection'
  | 'readModel';

/** Which store stayed away: the events, or the read models a projector writes. */
export type UnavailableStore = 'event store' | 'read store';

export const seconds = (ms: number): string => (ms / 1000).toFixed(1);

export const causeText = (cause: unknown): string => {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${cause.message || cause.name}${typeof code === 'string' && !cause.message.includes(code) ? ` (${code})` : ''}`;
  }
  return String(cause);
};

const ENGINE_ADVICE =
  'Operations this process was running are left as their events say: once the store answers again, call engine.recover() (or let a worker take them over) to finish or roll them back.';

/**
 * The event store stayed unreachable for longer than the outage budget. Nothing is half-written
 * (every append is whole or absent); the operations this process was running are left as their
 * events say, for `engine.recover()` (or a worker's takeover) once the store is back.
 *
 * A projector gives up the same way (`store` says which store stayed away): its read models
 * stop at their checkpoint, which a later `start()` or `catchUp()` resumes from.
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
    /** Which store: the event store, or a projector's read store (or events it read). */
    readonly store: UnavailableStore = 'event store',
    /** What the caller does once the store is back; the engine's advice by default. */
    advice: string = ENGINE_ADVICE,
  ) {
    super(
      'STORE_UNAVAILABLE',
      `The ${store} at ${host} was unreachable for ${seconds(unreachableMs)} s, longer than the outage budget (storeOutage.maxMs); last error: ${causeText(lastCause)}. Nothing was half-written. ${advice} Raise storeOutage.maxMs to wait longer.`,
      { cause: lastCause },
    );
  }
}

/**
 * An atomic append to several streams (`appendToStreams`) lost its answer, and what the streams
 * hold now proves neither that it was committed nor that it was not: some of its parts were
 * found and others not, where the store commits all of them or none. It happens only when more
 * events than the search window (200) were appended to a part's stream since, or when another
 * writer appended the very same events with no expected revision. Nothing was written twice:
 * read the streams named to see whether the write is there before writing it again.
 */
export class AppendOutcomeUnknownError extends OpledgerError {
  constructor(
    /** The streams of the write, in order. */
    readonly streams: readonly string[],
    /** The streams where its events were not found. */
    readonly notFound: readonly string[],
  ) {
    super(
      'APPEND_OUTCOME_UNKNOWN',
      `An atomic append to ${streams.map((s) => `'${s}'`).join(', ')} lost its answer, and whether it was committed cannot be told: its events were found in some of these streams but not in ${notFound.map((s) => `'${s}'`).join(', ')}. It was not written again; read those streams before writing it again.`,
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
