import { StoredEventError } from '../../domain/errors.js';
import type { EventData, RecordedEvent } from '../../domain/event-store.js';
import { eventJsonText } from '../event-json.js';

/** A row of opledger_events, read with safe integers (bigint) on. */
export interface EventRow {
  position: bigint;
  stream: string;
  revision: bigint;
  type: string;
  version: bigint | number;
  data: string;
  metadata: string | null;
  recorded_at: string;
}

export interface EncodedEvent {
  type: string;
  version: number;
  data: string;
  metadata: string | null;
}

/** Serialised before the write lock is taken: a bad event fails fast and writes nothing. */
export const encodeEventData = (event: EventData): EncodedEvent => ({
  type: event.type,
  version: event.version,
  data: eventJsonText(event.type, 'data', event.data),
  metadata: event.metadata ? eventJsonText(event.type, 'metadata', event.metadata) : null,
});

/**
 * The same columns as an EventRow, in its order, as an array: what a statement in raw mode
 * returns. better-sqlite3 builds an array about twice as fast as an object with named keys,
 * which showed in a rebuild's reads (bench/RESULTS.md, issue 17).
 */
export type EventValues = [
  position: bigint,
  stream: string,
  revision: bigint,
  type: string,
  version: bigint | number,
  data: string,
  metadata: string | null,
  recorded_at: string,
];

// At module level, not closures made for every row: a rebuild reads every row of the store.
const invalidRow = (stream: string, position: bigint, revision: bigint, problem: string) =>
  new StoredEventError('INVALID_STORED_EVENT', stream, position, revision, problem);

const parseColumn = (
  stream: string,
  position: bigint,
  revision: bigint,
  what: string,
  text: string,
): unknown => {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalidRow(
      stream,
      position,
      revision,
      `its ${what} is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
};

/** Stored rows come from a file anyone can edit: a bad one is reported, never skipped. */
const recordedEvent = (
  position: bigint,
  stream: string,
  revision: bigint,
  type: string,
  version: bigint | number,
  dataText: string,
  metadataText: string | null,
  recordedAtText: string,
): RecordedEvent => {
  const data = parseColumn(stream, position, revision, 'data', dataText);
  const metadata =
    metadataText === null
      ? undefined
      : parseColumn(stream, position, revision, 'metadata', metadataText);
  if (metadata !== undefined && (metadata === null || typeof metadata !== 'object')) {
    throw invalidRow(stream, position, revision, 'its metadata is not a JSON object');
  }
  const recordedAt = new Date(recordedAtText);
  if (Number.isNaN(recordedAt.getTime())) {
    throw invalidRow(
      stream,
      position,
      revision,
      `its recorded_at '${recordedAtText}' is not a timestamp`,
    );
  }
  // Two literals rather than a conditional spread (an object more per row); the keys keep the
  // order they always had.
  return metadata === undefined
    ? {
        type,
        version: Number(version),
        data,
        streamName: stream,
        streamRevision: revision,
        globalPosition: position,
        recordedAt,
      }
    : {
        type,
        version: Number(version),
        data,
        metadata: metadata as Record<string, unknown>,
        streamName: stream,
        streamRevision: revision,
        globalPosition: position,
        recordedAt,
      };
};

export const toRecordedEvent = (row: EventRow): RecordedEvent =>
  recordedEvent(
    row.position,
    row.stream,
    row.revision,
    row.type,
    row.version,
    row.data,
    row.metadata,
    row.recorded_at,
  );

/** toRecordedEvent of a row read in raw mode. */
export const valuesToRecordedEvent = (row: EventValues): RecordedEvent =>
  recordedEvent(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7]);
