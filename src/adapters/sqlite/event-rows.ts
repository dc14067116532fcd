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

/** Stored rows come from a file anyone can edit: a bad one is reported, never skipped. */
export const toRecordedEvent = (row: EventRow): RecordedEvent => {
  const invalid = (problem: string) =>
    new StoredEventError('INVALID_STORED_EVENT', row.stream, row.position, row.revision, problem);
  const parse = (what: string, text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw invalid(
        `its ${what} is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
      );
    }
  };
  const data = parse('data', row.data);
  const metadata = row.metadata === null ? undefined : parse('metadata', row.metadata);
  if (metadata !== undefined && (metadata === null || typeof metadata !== 'object')) {
    throw invalid('its metadata is not a JSON object');
  }
  const recordedAt = new Date(row.recorded_at);
  if (Number.isNaN(recordedAt.getTime())) {
    throw invalid(`its recorded_at '${row.recorded_at}' is not a timestamp`);
  }
  return {
    type: row.type,
    version: Number(row.version),
    data,
    ...(metadata !== undefined ? { metadata: metadata as Record<string, unknown> } : {}),
    streamName: row.stream,
    streamRevision: row.revision,
    globalPosition: row.position,
    recordedAt,
  };
};
