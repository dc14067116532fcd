/**
 * The part of an EventStoreDB / KurrentDB client the adapter uses, written structurally so that
 * an instance of either package (or a test double) fits, and so that opledger's published
 * types never name a package the user may not have installed.
 *
 * Only `appendToStream`'s options differ between the two packages; client-dialect.ts owns that.
 */

export interface ClientPosition {
  commit: bigint;
  prepare: bigint;
}

export type ClientReadPosition = 'start' | 'end' | ClientPosition;
export type ClientReadRevision = 'start' | 'end' | bigint;
export type ClientDirection = 'forwards' | 'backwards';
/** Expected stream state as both packages spell it (`any`, `no_stream`, `stream_exists`, or a revision). */
export type ClientStreamState = 'any' | 'no_stream' | 'stream_exists' | bigint;

export interface ClientRecordedEvent {
  streamId: string;
  id: string;
  revision: bigint;
  type: string;
  created: Date;
  /** Parsed JSON for JSON events (the raw text if it did not parse), bytes otherwise. */
  data: unknown;
  /** Parsed JSON, bytes when it is not JSON, undefined when empty. */
  metadata: unknown;
  isJson: boolean;
  position?: ClientPosition;
}

export interface ClientResolvedEvent {
  event?: ClientRecordedEvent;
  link?: unknown;
  commitPosition?: bigint;
}

/**
 * JSON data as the packages type it. Any JSON value is stored as JSON.stringify writes it; the
 * packages' narrower type is only a declaration.
 */
export type ClientJsonData = Record<string | number, unknown> | unknown[] | string;

/** What `jsonEvent()` builds. */
export interface ClientJsonEventData {
  id: string;
  contentType: 'application/json';
  type: string;
  data: ClientJsonData;
  metadata: ClientJsonData | Uint8Array | undefined;
}

export interface ClientAppendResult {
  success: boolean;
  nextExpectedRevision: bigint;
  position?: ClientPosition;
}

export interface ClientFilter {
  filterOn: 'eventType' | 'streamName';
  checkpointInterval: number;
}

export interface ClientReadStreamOptions {
  fromRevision?: ClientReadRevision;
  direction?: ClientDirection;
  maxCount?: number | bigint;
}

export interface ClientReadAllOptions {
  fromPosition?: ClientReadPosition;
  direction?: ClientDirection;
  maxCount?: number | bigint;
}

export interface ClientSubscribeToAllOptions {
  fromPosition?: ClientReadPosition;
  filter?: ClientFilter;
}

/** A catch-up subscription: a Node.js Readable emitting 'data', 'error', 'end' and 'close'. */
export interface ClientSubscription {
  // The packages type `on` with many overloads; the catch-all one is the common ground.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown;
  unsubscribe(): Promise<void>;
}

/** An `EventStoreDBClient` (@eventstore/db-client) or a `KurrentDBClient` (@kurrent/kurrentdb-client). */
export interface EventStoreDbClient {
  appendToStream(
    streamName: string,
    events: ClientJsonEventData[],
    options?: object,
  ): Promise<ClientAppendResult>;
  readStream(
    streamName: string,
    options?: ClientReadStreamOptions,
  ): AsyncIterable<ClientResolvedEvent>;
  readAll(options?: ClientReadAllOptions): AsyncIterable<ClientResolvedEvent>;
  subscribeToAll(options?: ClientSubscribeToAllOptions): ClientSubscription;
  dispose(): Promise<void>;
}
