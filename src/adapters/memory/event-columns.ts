import type { RecordedEvent } from '../../domain/event-store.js';

/**
 * Every event of the in-memory store, one array per field: the event at global position `p` is
 * at index `p - 1` of each. Nothing here is handed out; a reader gets a frozen record built by
 * `recordOf`. Columns instead of a frozen record per event (with its two BigInts), which the
 * store kept for its whole life: building those records was most of the store's 13% of the
 * engine's profile, and the columns keep about 40% less heap per event (bench/NOTES.md, "Engine
 * on memory, round 8").
 */
export interface EventColumns {
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

/**
 * No events yet.
 *
 * @example
 * ```ts
 * const columns = createEventColumns();
 * pushEvent(columns, 'OperationStarted', 1, data, undefined, 'operation-1', 0, Date.now());
 * columns.type.length; // 1
 * ```
 */
export const createEventColumns = (): EventColumns => ({
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
  columns.type.push(type);
  columns.version.push(version);
  columns.data.push(data);
  columns.metadata.push(metadata);
  columns.stream.push(stream);
  columns.revision.push(revision);
  columns.time.push(time);
};

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
  const event: RecordedEvent = {
    type: columns.type[index] as string,
    version: columns.version[index] as number,
    data: columns.data[index],
    streamName: columns.stream[index] as string,
    streamRevision: BigInt(columns.revision[index] as number),
    globalPosition: BigInt(index + 1),
    recordedAt: new Date(columns.time[index] as number),
  };
  const metadata = columns.metadata[index];
  if (metadata !== undefined) event.metadata = metadata;
  return Object.freeze(event);
};
