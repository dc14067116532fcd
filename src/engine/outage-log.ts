import { encodeEvent } from '../domain/event-codec.js';
import type { EventData, ExpectedVersion } from '../domain/event-store.js';
import { OPERATION_STREAM_PREFIX } from '../domain/stream-names.js';

/**
 * The Operation Log line of an outage the operation rode out, e.g. "the event store was
 * unreachable for 12.4 s; went on".
 */
export const storeOutageLine = (unreachableMs: number): string =>
  `the event store was unreachable for ${(unreachableMs / 1000).toFixed(1)} s; went on`;

/**
 * The event that puts that line in an operation's log, recorded first in the append that went
 * through after the outage (so it comes before the event it held up, even one that ends the
 * operation). Only on an operation's stream that exists (an expected revision): the first event
 * of a stream must be its OperationRequested.
 */
export const recordOutageInOperationLog = (
  stream: string,
  expected: ExpectedVersion,
  unreachableMs: number,
  at: Date,
): EventData[] | undefined =>
  stream.startsWith(OPERATION_STREAM_PREFIX) && typeof expected === 'bigint'
    ? [
        encodeEvent({
          type: 'LogWritten',
          data: { level: 'warn', message: storeOutageLine(unreachableMs), at: at.toISOString() },
        }),
      ]
    : undefined;
