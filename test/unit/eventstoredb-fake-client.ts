import { EventEmitter } from 'node:events';
import * as EventStoreDb from '@eventstore/db-client';
import * as KurrentDb from '@kurrent/kurrentdb-client';
import type {
  ClientFilter,
  ClientJsonEventData,
  ClientReadAllOptions,
  ClientReadStreamOptions,
  ClientRecordedEvent,
  ClientResolvedEvent,
  ClientSubscribeToAllOptions,
  EventStoreDbClient,
} from '../../src/adapters/eventstoredb/client-shape.js';

/**
 * A small EventStoreDB in memory and a client for it in the shape of either package, so the
 * adapter's mapping can be tested without a server. What it copies from the real thing (and the
 * adapter relies on): sparse log positions that start far above 1n, system events interleaved in
 * $all, reads from a position inclusive and subscriptions from a position exclusive, a missing
 * stream reported by failing the iteration with the package's StreamNotFoundError, conflicts
 * reported with the package's WrongExpectedVersionError, and each package's own name for the
 * expected version (read here from the package's types, not from the adapter's dialect).
 */
export type Flavour = 'eventstoredb' | 'kurrentdb';

export const packages = { eventstoredb: EventStoreDb, kurrentdb: KurrentDb } as const;

export interface StoredRecord {
  streamId: string;
  id: string;
  revision: bigint;
  type: string;
  created: Date;
  isJson: boolean;
  data: Uint8Array;
  metadata: Uint8Array;
  position: bigint;
}

export interface RawEvent {
  type: string;
  /** A string is stored as these bytes (JSON text, or not). */
  data: string | Uint8Array;
  metadata?: string | Uint8Array;
  isJson?: boolean;
}

const FIRST_POSITION = 4_096n;
const bytes = (value: string | Uint8Array | undefined): Uint8Array =>
  value === undefined
    ? new Uint8Array()
    : typeof value === 'string'
      ? new TextEncoder().encode(value)
      : value;

export const createFakeServer = () => {
  const log: StoredRecord[] = [];
  const streams = new Map<string, StoredRecord[]>();
  const listeners = new Set<() => void>();
  let next = FIRST_POSITION;

  const write = (streamId: string, raw: RawEvent): StoredRecord => {
    const stream = streams.get(streamId) ?? [];
    const record: StoredRecord = {
      streamId,
      id: crypto.randomUUID(),
      revision: BigInt(stream.length),
      type: raw.type,
      created: new Date(),
      isJson: raw.isJson ?? true,
      data: bytes(raw.data),
      metadata: bytes(raw.metadata),
      position: next,
    };
    // Positions are byte offsets: sparse, and growing with the record's size.
    next += 97n + BigInt(record.data.length + record.metadata.length);
    stream.push(record);
    streams.set(streamId, stream);
    log.push(record);
    return record;
  };

  const notify = () => {
    for (const listener of [...listeners]) setImmediate(listener);
  };

  return {
    log,
    streams,
    listeners,
    /** Appends atomically; the caller has checked the expected version. */
    writeAll(streamId: string, raws: readonly RawEvent[]): StoredRecord[] {
      const records = raws.map((raw) => write(streamId, raw));
      notify();
      return records;
    },
    /** Writes what another tool (or the server itself) would. */
    writeRaw(streamId: string, raw: RawEvent): StoredRecord {
      const record = write(streamId, raw);
      notify();
      return record;
    },
    /** The kind of events a real server adds to $all on its own. */
    writeSystemEvents(): StoredRecord[] {
      return [
        this.writeRaw('$stats-127.0.0.1:2113', { type: '$statsCollected', data: '{"proc":1}' }),
        this.writeRaw('$$order-1', { type: '$metadata', data: '{"$maxAge":60}' }),
        this.writeRaw('$ce-order', { type: '$>', data: '0@order-1', isJson: false }),
        // A non-'$' type in a system stream: the stream name alone makes it a system event.
        this.writeRaw('$projections-$all', { type: 'ProjectionUpdated', data: '{}' }),
      ];
    },
    head(): bigint | undefined {
      return log.at(-1)?.position;
    },
    /** Index of the first record at or after `position`. */
    indexAt(position: bigint): number {
      let low = 0;
      let high = log.length;
      while (low < high) {
        const mid = (low + high) >> 1;
        if ((log[mid] as StoredRecord).position < position) low = mid + 1;
        else high = mid;
      }
      return low;
    },
  };
};

export type FakeServer = ReturnType<typeof createFakeServer>;

export interface FakeClientOptions {
  /** As the packages' `throwOnAppendFailure=false`: a conflict comes back as a result. */
  throwOnAppendFailure?: boolean;
  /** As servers before 22.10: stream reads carry 2^64 - 1 instead of positions. */
  streamReadPositions?: boolean;
}

const UNKNOWN = 0xffff_ffff_ffff_ffffn;
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

// As the packages convert what the server sends: JSON parsed (the raw text when it does not
// parse), metadata parsed when it is JSON, undefined when empty.
const toRecorded = (record: StoredRecord, withPosition: boolean): ClientRecordedEvent => {
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const parse = (b: Uint8Array): unknown => {
    try {
      return JSON.parse(text(b)) as unknown;
    } catch {
      return undefined;
    }
  };
  const data = record.isJson ? (parse(record.data) ?? text(record.data)) : record.data.slice();
  const metadata =
    record.metadata.length === 0 ? undefined : (parse(record.metadata) ?? record.metadata.slice());
  const position = withPosition
    ? { commit: record.position, prepare: record.position }
    : { commit: UNKNOWN, prepare: UNKNOWN };
  return {
    streamId: record.streamId,
    id: record.id,
    revision: record.revision,
    type: record.type,
    created: new Date(record.created.getTime()),
    data,
    metadata,
    isJson: record.isJson,
    position,
  };
};

const matches = (filter: ClientFilter | undefined, record: StoredRecord): boolean => {
  if (!filter) return true;
  const subject = filter.filterOn === 'eventType' ? record.type : record.streamId;
  if ('regex' in filter) return new RegExp(String(filter.regex)).test(subject);
  if ('prefixes' in filter) {
    return (filter.prefixes as string[]).some((prefix) => subject.startsWith(prefix));
  }
  throw new Error('Unknown filter');
};

export interface FakeSubscription extends EventEmitter {
  readonly options: ClientSubscribeToAllOptions;
  unsubscribed: boolean;
  unsubscribe(): Promise<void>;
}

export interface FakeClient extends EventStoreDbClient {
  readonly flavour: Flavour;
  readonly server: FakeServer;
  readonly appendCalls: {
    stream: string;
    events: ClientJsonEventData[];
    options: object | undefined;
  }[];
  readonly readStreamCalls: { stream: string; options: ClientReadStreamOptions | undefined }[];
  readonly subscriptions: FakeSubscription[];
  disposed: boolean;
  multiStreamAppend?: () => never;
}

export const createFakeClient = (
  flavour: Flavour,
  server: FakeServer = createFakeServer(),
  { throwOnAppendFailure = true, streamReadPositions = true }: FakeClientOptions = {},
): FakeClient => {
  const pkg = packages[flavour];
  const appendCalls: FakeClient['appendCalls'] = [];
  const readStreamCalls: FakeClient['readStreamCalls'] = [];
  const subscriptions: FakeSubscription[] = [];
  const ensureUsable = () => {
    if (client.disposed) throw new Error('The fake client was disposed');
  };

  // Each package's own option name, typed by the package: not the adapter's dialect.
  const expectedStateOf = (options: object | undefined): unknown =>
    flavour === 'eventstoredb'
      ? (options as EventStoreDb.AppendToStreamOptions | undefined)?.expectedRevision
      : (options as KurrentDb.AppendToStreamOptions | undefined)?.streamState;

  const wrongExpectedVersion = (
    streamName: string,
    expected: unknown,
    current: bigint | 'no_stream',
  ) =>
    flavour === 'eventstoredb'
      ? new EventStoreDb.WrongExpectedVersionError(undefined, {
          streamName,
          expected: expected as EventStoreDb.AppendExpectedRevision,
          current,
        })
      : new KurrentDb.WrongExpectedVersionError(undefined, {
          streamName,
          expected: expected as KurrentDb.AppendStreamState,
          current,
        });

  const client: FakeClient = {
    flavour,
    server,
    appendCalls,
    readStreamCalls,
    subscriptions,
    disposed: false,

    async appendToStream(stream, events, options) {
      ensureUsable();
      appendCalls.push({ stream, events, options });
      // Serialised on the way out, as the packages do.
      const raws: RawEvent[] = events.map((event) => {
        if (event.contentType !== 'application/json') throw new Error('Only JSON events expected');
        return {
          type: event.type,
          data: JSON.stringify(event.data),
          metadata:
            event.metadata === undefined
              ? undefined
              : event.metadata instanceof Uint8Array
                ? event.metadata
                : JSON.stringify(event.metadata),
        };
      });
      await tick();
      const expected = expectedStateOf(options) ?? pkg.ANY;
      const existing = server.streams.get(stream) ?? [];
      const current = existing.length === 0 ? pkg.NO_STREAM : BigInt(existing.length - 1);
      const accepted =
        expected === pkg.ANY ||
        (expected === pkg.NO_STREAM && current === pkg.NO_STREAM) ||
        (expected === pkg.STREAM_EXISTS && current !== pkg.NO_STREAM) ||
        expected === current;
      if (!accepted) {
        if (!throwOnAppendFailure) {
          // What @eventstore/db-client 6.2.1 returns here: BigInt(hasCurrentStreamRevision()).
          return { success: false, nextExpectedRevision: 1n, position: undefined };
        }
        throw wrongExpectedVersion(stream, expected, current);
      }
      const written = server.writeAll(stream, raws);
      const last = written.at(-1) as StoredRecord;
      return {
        success: true,
        nextExpectedRevision: last.revision,
        position: { commit: last.position, prepare: last.position },
      };
    },

    readStream(stream, options) {
      ensureUsable();
      readStreamCalls.push({ stream, options });
      const { fromRevision = pkg.START, direction = pkg.FORWARDS, maxCount } = options ?? {};
      const limit = maxCount === undefined ? Infinity : Number(maxCount);
      return (async function* () {
        await tick();
        const records = server.streams.get(stream);
        if (!records) throw new pkg.StreamNotFoundError(undefined, stream);
        let selected: StoredRecord[];
        if (direction === pkg.BACKWARDS) {
          const last = BigInt(records.length - 1);
          // Reading backwards from beyond the end starts at the last event (server behaviour).
          const from = fromRevision === pkg.END || fromRevision === pkg.START ? last : fromRevision;
          const start = from > last ? last : from;
          selected = records.filter((r) => r.revision <= start).reverse();
        } else {
          const from =
            fromRevision === pkg.START
              ? 0n
              : fromRevision === pkg.END
                ? BigInt(records.length)
                : fromRevision;
          selected = records.filter((r) => r.revision >= from);
        }
        for (const record of selected.slice(0, limit)) {
          yield { event: toRecorded(record, streamReadPositions) };
        }
      })();
    },

    readAll(options?: ClientReadAllOptions) {
      ensureUsable();
      const { fromPosition = pkg.START, direction = pkg.FORWARDS, maxCount } = options ?? {};
      const limit = maxCount === undefined ? Infinity : Number(maxCount);
      return (async function* () {
        await tick();
        let selected: StoredRecord[];
        if (direction === pkg.BACKWARDS) {
          // Backward reads take the position as the end of the range (exclusive).
          const end =
            fromPosition === pkg.END || fromPosition === pkg.START
              ? server.log.length
              : server.indexAt(fromPosition.commit);
          selected = server.log.slice(0, fromPosition === pkg.START ? 0 : end).reverse();
        } else {
          // Forward reads include the event at the position.
          const start =
            fromPosition === pkg.START
              ? 0
              : fromPosition === pkg.END
                ? server.log.length
                : server.indexAt(fromPosition.commit);
          selected = server.log.slice(start);
        }
        for (const record of selected.slice(0, limit)) {
          yield {
            event: toRecorded(record, true),
            commitPosition: record.position,
          } satisfies ClientResolvedEvent;
        }
      })();
    },

    subscribeToAll(options = {}) {
      ensureUsable();
      const subscription = Object.assign(new EventEmitter(), {
        options,
        unsubscribed: false,
        async unsubscribe() {
          subscription.unsubscribed = true;
          server.listeners.delete(pump);
          // The Readable closes after its call is cancelled: late events must be ignored.
          setImmediate(() => subscription.emit('close'));
        },
      }) as FakeSubscription;
      subscriptions.push(subscription);
      let cursor: number | undefined;
      const pump = () => {
        if (subscription.unsubscribed) return;
        const { fromPosition = pkg.START, filter } = options;
        if (cursor === undefined) {
          // A subscription starts after its position, and 'end' is wherever the log is now.
          cursor =
            fromPosition === pkg.START
              ? 0
              : fromPosition === pkg.END
                ? server.log.length
                : server.indexAt(fromPosition.commit + 1n);
        }
        while (cursor < server.log.length && !subscription.unsubscribed) {
          const record = server.log[cursor++] as StoredRecord;
          if (matches(filter, record)) {
            subscription.emit('data', {
              event: toRecorded(record, true),
              commitPosition: record.position,
            });
          }
        }
      };
      server.listeners.add(pump);
      setImmediate(pump);
      return subscription;
    },

    async dispose() {
      client.disposed = true;
    },
  };
  if (flavour === 'kurrentdb') {
    client.multiStreamAppend = () => {
      throw new Error('multiStreamAppend is not simulated');
    };
  }
  return client;
};
