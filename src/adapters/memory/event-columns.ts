import type { RecordedEvent } from '../../domain/event-store.js';

/** One chunk's events, one array per field. */
interface EventChunk {
  readonly type: string[];
  readonly version: number[];
  /** The frozen copies every reader shares. */
  readonly data: unknown[];
  readonly metadata: (Record<string, unknown> | undefined)[];
  readonly stream: string[];
  readonly revision: number[];
  /** Milliseconds since the epoch. */
  readonly time: number[];
}

// 4,096 events a chunk. Pushing onto one array per field that grows to hundreds of thousands of
// elements cost about 100 ns a push in V8 (a large backing store grown and copied), 8 to 13 ns
// onto arrays that stay this small: the columns' pushes were 9% of the engine's profile
// (bench/NOTES.md, "Engine on memory, round 9").
const CHUNK_BITS = 12;
const CHUNK_SIZE = 1 << CHUNK_BITS;
const IN_CHUNK = CHUNK_SIZE - 1;

/**
 * Every event of the in-memory store, one array per field, in chunks of 4,096 events: the event
 * at global position `p` is at index `p - 1`. Nothing here is handed out; a reader gets a frozen
 * record built by `recordOf`. Columns instead of a frozen record per event (with its two
 * BigInts), which the store kept for its whole life: building those records was most of the
 * store's 13% of the engine's profile, and the columns keep about 40% less heap per event
 * (bench/NOTES.md, "Engine on memory, round 8").
 */
export interface EventColumns {
  readonly chunks: EventChunk[];
  /** How many events are stored: the global position of the last. */
  length: number;
}

/**
 * No events yet.
 *
 * @example
 * ```ts
 * const columns = createEventColumns();
 * pushEvent(columns, 'OperationStarted', 1, data, undefined, 'operation-1', 0, Date.now());
 * columns.length; // 1
 * ```
 */
export const createEventColumns = (): EventColumns => ({ chunks: [], length: 0 });

const createChunk = (): EventChunk => ({
  type: [],
  version: [],
  data: [],
  metadata: [],
  stream: [],
  revision: [],
  time: [],
});

/**
 * Stores one event after the last (its global position is the new length).
 *
 * @example
 * ```ts
 * pushEvent(columns, 'OperationStarted', 1, frozenData, undefined, 'operation-1', 0, Date.now());
 * ```
 */
export const pushEvent = (
  columns: EventColumns,
  type: string,
  version: number,
  data: unknown,
  metadata: Record<string, unknown> | undefined,
  stream: string,
  revision: number,
  time: number,
): void => {
  const index = columns.length;
  const chunk =
    (index & IN_CHUNK) === 0
      ? (columns.chunks[columns.chunks.length] = createChunk())
      : (columns.chunks[index >>> CHUNK_BITS] as EventChunk);
  chunk.type.push(type);
  chunk.version.push(version);
  chunk.data.push(data);
  chunk.metadata.push(metadata);
  chunk.stream.push(stream);
  chunk.revision.push(revision);
  chunk.time.push(time);
  columns.length = index + 1;
};

/**
 * The type name of the event at `index` (its global position minus one), for a filter that
 * reads no more than that.
 *
 * @example
 * ```ts
 * typeAt(columns, 0); // 'OperationStarted'
 * ```
 */
export const typeAt = (columns: EventColumns, index: number): string =>
  (columns.chunks[index >>> CHUNK_BITS] as EventChunk).type[index & IN_CHUNK] as string;

/**
 * What a reader gets for the event at `index` (its global position minus one): a frozen record
 * of its own, with its own Date (a frozen Date can still be changed with setTime()).
 *
 * @example
 * ```ts
 * const first = recordOf(columns, 0); // globalPosition 1n
 * ```
 */
export const recordOf = (columns: EventColumns, index: number): RecordedEvent => {
  const chunk = columns.chunks[index >>> CHUNK_BITS] as EventChunk;
  const at = index & IN_CHUNK;
  const event: RecordedEvent = {
    type: chunk.type[at] as string,
    version: chunk.version[at] as number,
    data: chunk.data[at],
    streamName: chunk.stream[at] as string,
    streamRevision: BigInt(chunk.revision[at] as number),
    globalPosition: BigInt(index + 1),
    recordedAt: new Date(chunk.time[at] as number),
  };
  const metadata = chunk.metadata[at];
  if (metadata !== undefined) event.metadata = metadata;
  return Object.freeze(event);
};
