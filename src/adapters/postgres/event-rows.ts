import { InvalidEventError, StoredEventError } from '../../domain/errors.js';
import type { EventData, RecordedEvent } from '../../domain/event-store.js';
import { requiredText, type TextRow } from './connection.js';

/** The columns every read selects, named as `decodeEventRow` expects them. */
export const EVENT_COLUMNS = `global_position AS position, stream_name AS stream,
  stream_revision AS revision, type, version, data::text AS data, metadata::text AS metadata,
  floor(extract(epoch FROM recorded_at) * 1000) AS recorded_ms`;

const MAX_INT4 = 2 ** 31 - 1;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The JSON array append_events takes; refuses what PostgreSQL could not store faithfully. */
export const encodeEvents = (events: readonly EventData[]): string => {
  const encoded = events.map((event) => {
    if (!Number.isInteger(event.version) || event.version < 0 || event.version > MAX_INT4) {
      throw new InvalidEventError(
        event.type,
        `version must be an integer from 0 to ${MAX_INT4}, not ${String(event.version)}`,
      );
    }
    return {
      type: event.type,
      version: event.version,
      data: event.data ?? null,
      ...(event.metadata ? { metadata: event.metadata } : {}),
    };
  });
  try {
    return JSON.stringify(encoded);
  } catch (error) {
    throw new InvalidEventError(
      events.map((e) => e.type).join(', '),
      `its data or metadata is not JSON (${(error as Error).message}); the PostgreSQL store keeps JSON only`,
    );
  }
};

/**
 * Turns a stored row into a RecordedEvent, or a StoredEventError naming the stream and
 * position when the row is not what append_events writes (edited by hand, say).
 */
export const decodeEventRow = (row: TextRow): RecordedEvent => {
  const stream = requiredText(row, 'stream');
  const position = BigInt(requiredText(row, 'position'));
  const revision = BigInt(requiredText(row, 'revision'));
  const fail = (problem: string) =>
    new StoredEventError('INVALID_STORED_EVENT', stream, position, revision, problem);

  const version = Number(row.version);
  if (row.version === null || !Number.isSafeInteger(version) || version < 0) {
    throw fail(`its version is not a non-negative integer (${String(row.version)})`);
  }
  const parse = (column: 'data' | 'metadata'): unknown => {
    try {
      return JSON.parse(requiredText(row, column));
    } catch (error) {
      throw fail(`its ${column} is not JSON (${(error as Error).message})`);
    }
  };
  const data = parse('data');
  let metadata: Record<string, unknown> | undefined;
  if (row.metadata !== null) {
    const parsed = parse('metadata');
    if (parsed !== null && !isPlainObject(parsed)) {
      throw fail(
        `its metadata is ${Array.isArray(parsed) ? 'an array' : typeof parsed}, not an object`,
      );
    }
    metadata = parsed ?? undefined;
  }
  const recordedAt = new Date(Number(row.recorded_ms));
  if (Number.isNaN(recordedAt.getTime())) throw fail('its recorded_at is not a time');

  return {
    type: requiredText(row, 'type'),
    version,
    data,
    ...(metadata ? { metadata } : {}),
    streamName: stream,
    streamRevision: revision,
    globalPosition: position,
    recordedAt,
  };
};
