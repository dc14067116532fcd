import { InvalidEventError, StoredEventError } from '../../domain/errors.js';
import type { EventData, RecordedEvent } from '../../domain/event-store.js';
import { eventJsonText } from '../event-json.js';
import type { ClientJsonData, ClientPosition, ClientResolvedEvent } from './client-shape.js';
import { UnsupportedServerError } from './errors.js';

/**
 * How opledger events are laid out in EventStoreDB: a JSON event whose type and data are the
 * event's own, and whose metadata is the user's metadata (kept at the top level, where
 * EventStoreDB's tools look for `$correlationId` and the like) plus one reserved key:
 *
 *   { ...userMetadata, "opledger": { "version": 3, "recordedAt": "2026-01-05T10:00:00.000Z" } }
 *
 * `recordedAt` is taken once per append, so every event of one append shares it as in the other
 * stores (the server stamps each record on its own). An empty user metadata object reads back
 * as no metadata.
 */
export const RESERVED_METADATA_KEY = 'opledger';

export interface EncodedEvent {
  type: string;
  data: ClientJsonData;
  metadata: Record<string, unknown>;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  !(value instanceof Uint8Array);

/** A copy made through JSON: what the server will store, taken before the caller can mutate it. */
const jsonCopy = (type: string, what: string, value: unknown): unknown =>
  JSON.parse(eventJsonText(type, what, value)) as unknown;

export const isReservedName = (name: string): boolean => name.startsWith('$');

export const encodeEvent = (event: EventData, recordedAt: Date): EncodedEvent => {
  const { type } = event;
  if (typeof type !== 'string' || type === '') {
    throw new InvalidEventError(String(type), 'the type must be a non-empty string');
  }
  if (isReservedName(type)) {
    throw new InvalidEventError(
      type,
      "types starting with '$' are EventStoreDB system events, which opledger never reads back; rename the type",
    );
  }
  if (!Number.isSafeInteger(event.version)) {
    throw new InvalidEventError(
      type,
      `its version must be an integer, not ${String(event.version)}`,
    );
  }
  let userMetadata: Record<string, unknown> = {};
  if (event.metadata !== undefined) {
    if (!isPlainObject(event.metadata)) {
      throw new InvalidEventError(type, 'its metadata must be a plain object');
    }
    if (Object.hasOwn(event.metadata, RESERVED_METADATA_KEY)) {
      throw new InvalidEventError(
        type,
        `the metadata key '${RESERVED_METADATA_KEY}' is reserved by the EventStoreDB adapter for the schema version; use another key`,
      );
    }
    userMetadata = jsonCopy(type, 'metadata', event.metadata) as Record<string, unknown>;
  }
  return {
    type,
    // JSON.stringify writes any JSON value; the packages only declare a narrower type.
    data: jsonCopy(type, 'data', event.data) as ClientJsonData,
    metadata: {
      ...userMetadata,
      [RESERVED_METADATA_KEY]: { version: event.version, recordedAt: recordedAt.toISOString() },
    },
  };
};

/** What the server sends in place of a position it does not know (2^64 - 1). */
const UNKNOWN_POSITION = 0xffff_ffff_ffff_ffffn;

const known = (value: bigint | undefined): bigint | undefined =>
  value === undefined || value === UNKNOWN_POSITION || value < 0n ? undefined : value;

/**
 * The event's global position: its commit position in the transaction log. Positions are byte
 * offsets, so they are sparse and start well above 1n; they strictly increase along $all, which
 * is all the port promises. Events appended in one call get one position each: an append is an
 * implicit transaction, whose events are committed at their own record's position, so commit
 * and prepare positions are equal. Servers before 22.10 may send 2^64 - 1 for positions on
 * stream reads ("unknown"): the other half of the pair, or the resolved event's, is used then.
 */
export const positionOf = (resolved: ClientResolvedEvent): bigint | undefined => {
  const position: ClientPosition | undefined = resolved.event?.position;
  return known(position?.commit) ?? known(resolved.commitPosition) ?? known(position?.prepare);
};

export const isSystemEvent = (resolved: ClientResolvedEvent): boolean => {
  const event = resolved.event;
  return event === undefined || isReservedName(event.type) || isReservedName(event.streamId);
};

/** Turns what the client read into an opledger event, or explains why it cannot. */
export const decodeEvent = (resolved: ClientResolvedEvent, streamName: string): RecordedEvent => {
  const event = resolved.event;
  const globalPosition = positionOf(resolved);
  const fail = (problem: string) =>
    new StoredEventError(
      'INVALID_STORED_EVENT',
      streamName,
      globalPosition ?? -1n,
      event?.revision ?? -1n,
      problem,
    );
  if (event === undefined) throw fail('the server returned a link without its event');
  if (globalPosition === undefined) {
    throw new UnsupportedServerError(
      `did not report the global position of event ${event.revision} of stream '${event.streamId}'`,
    );
  }
  if (!event.isJson || event.data instanceof Uint8Array) {
    throw fail(`'${event.type}' is stored as binary data, not JSON`);
  }
  const metadata = event.metadata;
  if (!isPlainObject(metadata)) {
    throw fail(
      metadata === undefined
        ? `'${event.type}' has no metadata, so no opledger schema version: it was not written by opledger`
        : `'${event.type}' has metadata that is not a JSON object`,
    );
  }
  const { [RESERVED_METADATA_KEY]: block, ...userMetadata } = metadata;
  const version = isPlainObject(block) ? block.version : undefined;
  if (!isPlainObject(block) || typeof version !== 'number' || !Number.isSafeInteger(version)) {
    throw fail(
      `'${event.type}' carries no opledger schema version in its metadata ('${RESERVED_METADATA_KEY}.version')`,
    );
  }
  // Events written by other tools have no stamp: the server's own time is the best there is.
  const stamped = typeof block.recordedAt === 'string' ? new Date(block.recordedAt) : undefined;
  const recordedAt =
    stamped && !Number.isNaN(stamped.getTime()) ? stamped : new Date(event.created.getTime());
  return {
    type: event.type,
    version,
    data: event.data,
    ...(Object.keys(userMetadata).length > 0 ? { metadata: userMetadata } : {}),
    streamName,
    streamRevision: event.revision,
    globalPosition,
    recordedAt,
  };
};
