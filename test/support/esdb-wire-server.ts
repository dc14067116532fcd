import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';

/**
 * A test server that speaks EventStoreDB's gRPC protocol (the `event_store.client.*` services
 * both @eventstore/db-client 6.x and @kurrent/kurrentdb-client 1.x, and the latter's Rust
 * bridge, talk) over HTTP/2, with @grpc/grpc-js and the message classes the client package
 * ships in `generated/`. It implements the calls the opledger adapter makes, with the
 * server's semantics, so that the real clients' encoding, error mapping, subscriptions and
 * reconnects are exercised end to end:
 *
 * - ServerFeatures.GetSupportedMethods (asked at connect; it decides whether appends go
 *   through Append or BatchAppend).
 * - Streams.Append and Streams.BatchAppend: expected-revision checks (any, no_stream,
 *   stream_exists, a revision), WrongExpectedVersion, StreamDeleted, NotLeader, idempotent
 *   retries by event id.
 * - Streams.Read: a stream or $all, forwards or backwards, from start/end/a revision/a
 *   position; StreamNotFound; StreamDeleted; catch-up subscriptions to $all with a stream-name
 *   or event-type filter (prefix or regex), confirmation, checkpoints and the caught-up signal.
 * - Streams.Tombstone (to make a deleted stream) and Gossip.Read (one node, the leader).
 *
 * Semantics and wire shapes are taken from the KurrentDB server source (github.com/kurrent-io/
 * KurrentDB, src/KurrentDB.Core/Services/Transport/Grpc/Streams.Append.cs,
 * Streams.BatchAppend.cs, Streams.Read.cs, RpcExceptions.cs) and the clients' decoding
 * (@eventstore/db-client dist/streams, dist/utils/CommandError.js). Where the real server's
 * behaviour was not certain from those, the code says so.
 *
 * The data lives in an `EsdbLog`, apart from the network server, so that a server can be
 * stopped and started again on the same port (a restart) without losing what was written, and
 * so that two servers (a follower that refuses writes and its leader) can share one log.
 */

const require = createRequire(import.meta.url);
type StreamsPb = typeof import('@eventstore/db-client/generated/streams_pb.js');
type SharedPb = typeof import('@eventstore/db-client/generated/shared_pb.js');
type StatusPb = typeof import('@eventstore/db-client/generated/status_pb.js');
type ServerFeaturesPb = typeof import('@eventstore/db-client/generated/serverfeatures_pb.js');
type GossipPb = typeof import('@eventstore/db-client/generated/gossip_pb.js');
type StreamsGrpc = typeof import('@eventstore/db-client/generated/streams_grpc_pb.js');
type ServerFeaturesGrpc =
  typeof import('@eventstore/db-client/generated/serverfeatures_grpc_pb.js');
type GossipGrpc = typeof import('@eventstore/db-client/generated/gossip_grpc_pb.js');
interface AnyPb {
  Any: new () => {
    pack(serialized: Uint8Array, name: string): void;
  };
}

/**
 * The generated message classes of the client package under test. Both packages register
 * their classes on one global `proto.event_store.client` namespace (google-protobuf's
 * CommonJS output), so whichever loads last replaces the other's nested classes: with both
 * loaded in one process, @eventstore/db-client's BatchAppend fails to serialise its own
 * request ("message.getDeadline21100 is not a function"). The server therefore uses the
 * classes of the package the test's client comes from, and one process tests one package.
 */
export type Flavour = 'eventstoredb' | 'kurrentdb';
const generatedDirs: Record<Flavour, string> = {
  eventstoredb: '@eventstore/db-client/generated/',
  kurrentdb: '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/',
};

let loaded: Flavour | undefined;
let streamsPb: StreamsPb;
let sharedPb: SharedPb;
let statusPb: StatusPb;
let featuresPb: ServerFeaturesPb;
let gossipPb: GossipPb;
let streamsGrpc: StreamsGrpc;
let featuresGrpc: ServerFeaturesGrpc;
let gossipGrpc: GossipGrpc;
let anyPb: AnyPb;
let ReadReq: StreamsPb['ReadReq'];
let ReadResp: StreamsPb['ReadResp'];
let AppendResp: StreamsPb['AppendResp'];
let BatchAppendResp: StreamsPb['BatchAppendResp'];

const loadProtocol = (flavour: Flavour): void => {
  if (loaded === flavour) return;
  if (loaded !== undefined) {
    throw new Error(
      `The wire server already speaks with ${loaded}'s generated classes; test ${flavour} in another process (another test file)`,
    );
  }
  const dir = generatedDirs[flavour];
  const load = <T>(file: string): T => require(`${dir}${file}`) as T;
  streamsPb = load('streams_pb.js');
  sharedPb = load('shared_pb.js');
  statusPb = load('status_pb.js');
  featuresPb = load('serverfeatures_pb.js');
  gossipPb = load('gossip_pb.js');
  streamsGrpc = load('streams_grpc_pb.js');
  featuresGrpc = load('serverfeatures_grpc_pb.js');
  gossipGrpc = load('gossip_grpc_pb.js');
  // The Any that the generated status_pb.js itself requires.
  anyPb = require(
    require.resolve('google-protobuf/google/protobuf/any_pb.js', {
      paths: [require.resolve(`${dir}status_pb.js`)],
    }),
  ) as AnyPb;
  ({ ReadReq, ReadResp, AppendResp, BatchAppendResp } = streamsPb);
  loaded = flavour;
};

type ReadOptions = InstanceType<StreamsPb['ReadReq']['Options']>;
type ReadRespT = InstanceType<StreamsPb['ReadResp']>;

// ---------------------------------------------------------------------------------------------
// The log

export interface LogRecord {
  streamId: string;
  id: string;
  revision: bigint;
  type: string;
  contentType: string;
  /** .NET ticks (100 ns) since the Unix epoch, as the server sends `created`. */
  created: bigint;
  data: Uint8Array;
  metadata: Uint8Array;
  /** Commit and prepare position: equal, see `append`. */
  position: bigint;
}

export interface ProposedEvent {
  id: string;
  type: string;
  contentType: string;
  data: Uint8Array;
  metadata: Uint8Array;
}

/** Expected stream state as the server takes it: -2 any, -1 no stream, -4 stream exists. */
export type ExpectedState = 'any' | 'no_stream' | 'stream_exists' | bigint;

export type AppendOutcome =
  | { kind: 'success'; revision: bigint; position: bigint }
  | { kind: 'wrong_expected_version'; current: bigint }
  | { kind: 'stream_deleted' };

interface StreamState {
  records: LogRecord[];
  tombstoned: boolean;
}

/**
 * The first position handed out. A real log starts with its epoch and the server's own
 * records, so the first user event is far above 0; the clients and the adapter must not care.
 */
const FIRST_POSITION = 4_096n;
const TICKS_PER_MS = 10_000n;

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

export class EsdbLog {
  readonly all: LogRecord[] = [];
  private readonly streams = new Map<string, StreamState>();
  private readonly listeners = new Set<() => void>();
  private next = FIRST_POSITION;

  /** The stream's last revision, -1n when it has no events (or does not exist). */
  revisionOf(streamId: string): bigint {
    const records = this.streams.get(streamId)?.records ?? [];
    return BigInt(records.length) - 1n;
  }

  isTombstoned(streamId: string): boolean {
    return this.streams.get(streamId)?.tombstoned ?? false;
  }

  streamRecords(streamId: string): readonly LogRecord[] | undefined {
    return this.streams.get(streamId)?.records;
  }

  head(): bigint | undefined {
    return this.all.at(-1)?.position;
  }

  /** Resolves once the stream reaches `revision`. */
  untilRevision(streamId: string, revision: bigint): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.revisionOf(streamId) < revision) return;
        stop();
        resolve();
      };
      const stop = this.onWrite(check);
      check();
    });
  }

  /** Calls `listener` (synchronously) after every write; returns the unsubscribe. */
  onWrite(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * An append, checked and written atomically as the server's storage writer does it.
   *
   * Expected versions (KurrentDB Streams.Append.cs maps the request's oneof to -2 any, -1 no
   * stream, -4 stream exists, or the revision; the checks are the storage writer's):
   * - any: always writes; no_stream: the stream has no events; stream_exists: it has some;
   *   a revision: the stream's last revision is that one.
   * - Idempotence: the server recognises a retry by its event ids. When the events that follow
   *   the expected revision are exactly the proposed ones (same ids, in order), nothing is
   *   written and the original result is returned. For `any` the real server only does this
   *   for ids still in its recent-writes cache; here the whole stream is searched. (Where we
   *   looked: the idempotency rules are described in the server's docs under "Idempotence";
   *   the exact cache behaviour is not reproduced.)
   * - A tombstoned stream refuses every append (StreamDeleted).
   *
   * Positions: every event gets its own position in the log, commit == prepare, and the result
   * carries the last event's position. Streams.Append.cs reports WriteEventsCompleted's
   * CommitPosition/PreparePosition; that these are the last event's own position for a
   * multi-event append (and not the first's, or a commit record's) was not confirmed in the
   * storage writer's source, and is the one assumption the adapter's `lastPosition` rests on.
   */
  append(
    streamId: string,
    expected: ExpectedState,
    events: readonly ProposedEvent[],
  ): AppendOutcome {
    const stream = this.streams.get(streamId);
    if (stream?.tombstoned) return { kind: 'stream_deleted' };
    const records = stream?.records ?? [];
    const current = BigInt(records.length) - 1n;

    const retried = this.idempotentResult(records, expected, events);
    if (retried) return retried;

    const ok =
      expected === 'any' ||
      (expected === 'no_stream' && current === -1n) ||
      (expected === 'stream_exists' && current >= 0n) ||
      (typeof expected === 'bigint' && expected === current);
    if (!ok) return { kind: 'wrong_expected_version', current };
    if (events.length === 0) {
      // An empty append checks and writes nothing; the server still answers with a position.
      return { kind: 'success', revision: current, position: this.head() ?? 0n };
    }
    const written = events.map((event) => this.write(streamId, event));
    this.notify();
    const last = written.at(-1) as LogRecord;
    return { kind: 'success', revision: last.revision, position: last.position };
  }

  private idempotentResult(
    records: readonly LogRecord[],
    expected: ExpectedState,
    events: readonly ProposedEvent[],
  ): AppendOutcome | undefined {
    if (events.length === 0) return undefined;
    let start: number;
    if (typeof expected === 'bigint') start = Number(expected) + 1;
    else if (expected === 'no_stream') start = 0;
    else start = records.findIndex((record) => record.id === events[0]?.id);
    if (start < 0 || start + events.length > records.length) return undefined;
    const same = events.every((event, i) => records[start + i]?.id === event.id);
    if (!same) return undefined;
    const last = records[start + events.length - 1] as LogRecord;
    return { kind: 'success', revision: last.revision, position: last.position };
  }

  /** Writes as another tool, or the server itself, would; no checks. */
  writeRaw(streamId: string, type: string, data: string, metadata = ''): LogRecord {
    const record = this.write(streamId, {
      id: randomUUID(),
      type,
      contentType: 'application/json',
      data: utf8(data),
      metadata: utf8(metadata),
    });
    this.notify();
    return record;
  }

  /** The kind of records a real server keeps adding to $all on its own. */
  writeSystemEvents(): void {
    this.writeRaw('$stats-127.0.0.1:2113', '$statsCollected', '{"proc-cpu":1}');
    this.writeRaw('$settings', '$settings', '{"$userStreamAcl":{}}');
    this.writeRaw('$scavenges', '$scavengeStarted', '{}');
  }

  /**
   * Deletes a stream for good: later appends fail with StreamDeleted, reads too. The real
   * server also writes a tombstone record to $all; it is a '$'-typed event here as there.
   */
  tombstone(streamId: string): bigint {
    const stream = this.streams.get(streamId) ?? { records: [], tombstoned: false };
    stream.tombstoned = true;
    this.streams.set(streamId, stream);
    const record = this.writeRaw(`$$${streamId}`, '$metadata', '{"$tb":9223372036854775807}');
    return record.position;
  }

  private write(streamId: string, event: ProposedEvent): LogRecord {
    const stream = this.streams.get(streamId) ?? { records: [], tombstoned: false };
    const record: LogRecord = {
      streamId,
      id: event.id,
      revision: BigInt(stream.records.length),
      type: event.type,
      contentType: event.contentType,
      created: BigInt(Date.now()) * TICKS_PER_MS,
      data: event.data,
      metadata: event.metadata,
      position: this.next,
    };
    // Positions are byte offsets of the record in the log: sparse, growing with its size.
    this.next +=
      80n +
      BigInt(record.data.length + record.metadata.length + streamId.length + event.type.length);
    stream.records.push(record);
    this.streams.set(streamId, stream);
    this.all.push(record);
    return record;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Index in `all` of the first record at or after `position`. */
  indexAt(position: bigint): number {
    let low = 0;
    let high = this.all.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((this.all[mid] as LogRecord).position < position) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

const streamIdentifier = (name: string) => {
  const identifier = new sharedPb.StreamIdentifier();
  identifier.setStreamName(utf8(name));
  return identifier;
};

const nameOf = (identifier: { getStreamName_asU8(): Uint8Array } | undefined): string =>
  identifier ? new TextDecoder().decode(identifier.getStreamName_asU8()) : '';

const uuidString = (uuid: InstanceType<SharedPb['UUID']> | undefined): string => {
  if (!uuid) return randomUUID();
  if (uuid.hasStructured()) {
    const structured = uuid.getStructured();
    const hex =
      BigInt.asUintN(64, BigInt(structured?.getMostSignificantBits() ?? '0'))
        .toString(16)
        .padStart(16, '0') +
      BigInt.asUintN(64, BigInt(structured?.getLeastSignificantBits() ?? '0'))
        .toString(16)
        .padStart(16, '0');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  return uuid.getString();
};

const uuidMessage = (id: string, structured: boolean) => {
  const uuid = new sharedPb.UUID();
  if (!structured) {
    uuid.setString(id);
    return uuid;
  }
  const hex = id.replaceAll('-', '');
  const bits = new sharedPb.UUID.Structured();
  bits.setMostSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(0, 16)}`)).toString());
  bits.setLeastSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(16)}`)).toString());
  uuid.setStructured(bits);
  return uuid;
};

const proposedEvent = (message: {
  getId(): InstanceType<SharedPb['UUID']> | undefined;
  getMetadataMap(): { get(key: string): string | undefined };
  getData_asU8(): Uint8Array;
  getCustomMetadata_asU8(): Uint8Array;
}): ProposedEvent => {
  const type = message.getMetadataMap().get('type');
  const contentType = message.getMetadataMap().get('content-type');
  if (type === undefined || contentType === undefined) {
    // RpcExceptions.RequiredMetadataPropertyMissing
    throw serviceError(
      grpc.status.INVALID_ARGUMENT,
      `Required Metadata Property '${type === undefined ? 'type' : 'content-type'}' is missing`,
      {
        exception: 'missing-required-metadata-property',
        'required-metadata-properties': 'type,content-type',
      },
    );
  }
  return {
    id: uuidString(message.getId()),
    type,
    contentType,
    data: message.getData_asU8(),
    metadata: message.getCustomMetadata_asU8(),
  };
};

const recordedEvent = (record: LogRecord, structuredIds: boolean) => {
  const event = new ReadResp.ReadEvent.RecordedEvent();
  event.setId(uuidMessage(record.id, structuredIds));
  event.setStreamIdentifier(streamIdentifier(record.streamId));
  event.setStreamRevision(record.revision.toString());
  event.setCommitPosition(record.position.toString());
  event.setPreparePosition(record.position.toString());
  const metadata = event.getMetadataMap();
  metadata.set('type', record.type);
  metadata.set('content-type', record.contentType);
  metadata.set('created', record.created.toString());
  event.setData(record.data);
  event.setCustomMetadata(record.metadata);
  return event;
};

const eventResponse = (record: LogRecord, structuredIds: boolean): ReadRespT => {
  const read = new ReadResp.ReadEvent();
  read.setEvent(recordedEvent(record, structuredIds));
  read.setCommitPosition(record.position.toString());
  const response = new ReadResp();
  response.setEvent(read);
  return response;
};

type ServiceError = grpc.ServiceError;

const serviceError = (
  code: grpc.status,
  details: string,
  metadata: Record<string, string> = {},
): Partial<ServiceError> & { code: grpc.status; details: string } => {
  const trailers = new grpc.Metadata();
  for (const [key, value] of Object.entries(metadata)) trailers.set(key, value);
  return { code, details, message: details, metadata: trailers };
};

// RpcExceptions.cs
const streamDeleted = (streamId: string) =>
  serviceError(grpc.status.FAILED_PRECONDITION, `Event stream '${streamId}' is deleted.`, {
    exception: 'stream-deleted',
    'stream-name': streamId,
  });

const notLeader = (leader: Endpoint) =>
  serviceError(grpc.status.NOT_FOUND, 'Leader info available', {
    exception: 'not-leader',
    'leader-endpoint-host': leader.host,
    'leader-endpoint-port': String(leader.port),
  });

const packedStatus = (
  code: number,
  message: string,
  detail: { serializeBinary(): Uint8Array },
  typeName: string,
) => {
  const status = new statusPb.Status();
  status.setCode(code);
  status.setMessage(message);
  const any = new anyPb.Any();
  any.pack(detail.serializeBinary(), typeName);
  status.setDetails(any as never);
  return status;
};

// ---------------------------------------------------------------------------------------------
// Reads

type ReadFrom = 'start' | 'end' | bigint;

const readFromAll = (options: ReadOptions): ReadFrom => {
  const all = options.getAll();
  if (!all || all.hasStart()) return 'start';
  if (all.hasEnd()) return 'end';
  return BigInt(all.getPosition()?.getCommitPosition() ?? '0');
};

interface Filter {
  matches(record: LogRecord): boolean;
  /** Records examined between checkpoints. */
  checkpointEvery: number;
}

/**
 * The server's filter: on the stream name or the event type, by prefixes or a regex (Streams.
 * Read.cs ConvertToEventFilter). Checkpoints: the client sends a checkpoint interval
 * multiplier, and the server sends a checkpoint after every (window x multiplier) records it
 * examined, matching or not, the window being `max` or 32 when the client asked for `count`.
 * The 32 and the counting of examined (not delivered) records are our reading of
 * Enumerators.AllSubscriptionFiltered and the client docs ("checkpointInterval ... multiplied by
 * the max search window"); not checked against a running server.
 */
const filterOf = (options: ReadOptions): Filter | undefined => {
  if (!options.hasFilter()) return undefined;
  const filter = options.getFilter() as InstanceType<
    StreamsPb['ReadReq']['Options']['FilterOptions']
  >;
  const byStream = filter.hasStreamIdentifier();
  const expression = byStream ? filter.getStreamIdentifier() : filter.getEventType();
  const regex = expression?.getRegex() ? new RegExp(expression.getRegex()) : undefined;
  const prefixes = expression?.getPrefixList() ?? [];
  const window = filter.hasMax() ? filter.getMax() : 32;
  return {
    matches: (record) => {
      const subject = byStream ? record.streamId : record.type;
      return regex ? regex.test(subject) : prefixes.some((prefix) => subject.startsWith(prefix));
    },
    checkpointEvery: Math.max(1, window * Math.max(1, filter.getCheckpointintervalmultiplier())),
  };
};

// ---------------------------------------------------------------------------------------------
// The server

export interface Endpoint {
  host: string;
  port: number;
}

export interface EsdbWireServerOptions {
  /** Which client package's generated classes to speak with (see loadProtocol). */
  flavour: Flavour;
  /** The data; a new empty log when left out. Share one to model a restart or a cluster. */
  log?: EsdbLog;
  /** Listen on this port (0: any free port). */
  port?: number;
  /**
   * Whether ServerFeatures lists Streams.BatchAppend (KurrentDB and EventStoreDB >= 21.10 do):
   * the clients then append through BatchAppend, else through Append.
   */
  batchAppend?: boolean;
  /** Reported as the server version. */
  version?: string;
}

/** Faults a test can switch on while the server runs. */
export interface Faults {
  /** Refuse appends as a follower (or read-only replica) would, pointing at this leader. */
  notLeader?: Endpoint;
  /**
   * Hold each append this long before writing it: a client whose deadline is shorter gives up
   * (DEADLINE_EXCEEDED) while the append still lands, as when a real server is slow to commit.
   */
  appendDelayMs?: number;
  /**
   * Answer an append that takes longer than this with the server's Timeout (a CommitTimeout:
   * "may still succeed"), while the write still lands once `appendDelayMs` has passed.
   * Streams.Append.cs answers RpcExceptions.Timeout (ABORTED); Streams.BatchAppend.cs a
   * packed event_store.client.Timeout. (BatchAppend calls carry no gRPC deadline: the
   * client's own deadline goes in the request and only bounds a request whose batches have
   * not all arrived, so a slow write through BatchAppend ends this way or not at all.)
   */
  commitTimeoutMs?: number;
}

export interface EsdbWireServer {
  readonly log: EsdbLog;
  readonly port: number;
  readonly faults: Faults;
  /** esdb://… for @eventstore/db-client, kurrentdb://… for @kurrent/kurrentdb-client. */
  /** The connection string for this server's flavour (esdb:// or kurrentdb://). */
  url(query?: string): string;
  /** How many catch-up subscriptions are open. */
  liveSubscriptions(): number;
  /** Resolves once `count` subscriptions are open (after their confirmation was sent). */
  untilSubscriptions(count: number): Promise<void>;
  /** Every call received, by method name ("Read", "Append", "BatchAppend", ...). */
  readonly calls: Map<string, number>;
  /** Ends every open subscription with this status, as a server shutting down would. */
  dropSubscriptions(code?: grpc.status): void;
  /** Stops listening and cuts every connection (a crash), keeping the log. */
  kill(): Promise<void>;
  /** Listens again on the same port with the same log. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

interface OpenSubscription {
  end(code: grpc.status): void;
}

export const startEsdbWireServer = async (
  options: EsdbWireServerOptions,
): Promise<EsdbWireServer> => {
  loadProtocol(options.flavour);
  const log = options.log ?? new EsdbLog();
  const faults: Faults = {};
  const calls = new Map<string, number>();
  const subscriptions = new Set<OpenSubscription>();
  const subscriptionWaiters = new Set<() => void>();
  const count = (method: string) => calls.set(method, (calls.get(method) ?? 0) + 1);
  const subscriptionsChanged = () => {
    for (const waiter of [...subscriptionWaiters]) waiter();
  };

  const commitTimeout = (onTimeout: () => void) =>
    faults.commitTimeoutMs && (faults.appendDelayMs ?? 0) > faults.commitTimeoutMs
      ? setTimeout(onTimeout, faults.commitTimeoutMs)
      : undefined;

  const holdAppend = async () => {
    if (faults.appendDelayMs)
      await new Promise((resolve) => setTimeout(resolve, faults.appendDelayMs));
  };

  // -- ServerFeatures ---------------------------------------------------------------------------
  const features = {
    getSupportedMethods: (
      _call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<InstanceType<ServerFeaturesPb['SupportedMethods']>>,
    ) => {
      count('GetSupportedMethods');
      const methods = new featuresPb.SupportedMethods();
      methods.setEventStoreServerVersion(options.version ?? '24.10.0');
      const method = (service: string, name: string, featureList: string[] = []) => {
        const supported = new featuresPb.SupportedMethod();
        supported.setServiceName(service);
        supported.setMethodName(name);
        supported.setFeaturesList(featureList);
        return supported;
      };
      const streams = 'event_store.client.streams.streams';
      methods.setMethodsList([
        method(streams, 'read', ['all', 'stream', 'subscribe']),
        method(streams, 'append'),
        method(streams, 'tombstone'),
        ...(options.batchAppend === false ? [] : [method(streams, 'batchappend')]),
        method('event_store.client.gossip.gossip', 'read'),
        method('event_store.client.server_features.serverfeatures', 'getsupportedmethods'),
      ]);
      callback(null, methods);
    },
  };

  // -- Gossip -----------------------------------------------------------------------------------
  let port = options.port ?? 0;
  const gossip = {
    read: (
      _call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<InstanceType<GossipPb['ClusterInfo']>>,
    ) => {
      count('Gossip.Read');
      // One node, alive and leader (or follower, when refusing writes).
      const member = new gossipPb.MemberInfo();
      member.setInstanceId(uuidMessage(randomUUID(), false));
      member.setState(
        faults.notLeader
          ? gossipPb.MemberInfo.VNodeState.FOLLOWER
          : gossipPb.MemberInfo.VNodeState.LEADER,
      );
      member.setIsAlive(true);
      const endpoint = new gossipPb.EndPoint();
      endpoint.setAddress('127.0.0.1');
      endpoint.setPort(port);
      member.setHttpEndPoint(endpoint);
      const info = new gossipPb.ClusterInfo();
      info.setMembersList([member]);
      callback(null, info);
    },
  };

  // -- Append -----------------------------------------------------------------------------------
  const expectedOfAppend = (
    appendOptions: InstanceType<StreamsPb['AppendReq']['Options']>,
  ): ExpectedState => {
    const Case = streamsPb.AppendReq.Options.ExpectedStreamRevisionCase;
    switch (appendOptions.getExpectedStreamRevisionCase()) {
      case Case.REVISION:
        return BigInt(appendOptions.getRevision());
      case Case.NO_STREAM:
        return 'no_stream';
      case Case.STREAM_EXISTS:
        return 'stream_exists';
      default:
        return 'any';
    }
  };

  const append = (
    call: grpc.ServerReadableStream<InstanceType<StreamsPb['AppendReq']>, unknown>,
    callback: grpc.sendUnaryData<InstanceType<StreamsPb['AppendResp']>>,
  ) => {
    count('Append');
    let header: InstanceType<StreamsPb['AppendReq']['Options']> | undefined;
    const events: ProposedEvent[] = [];
    let failed = false;
    const fail = (error: Partial<ServiceError>) => {
      if (failed) return;
      failed = true;
      callback(error as ServiceError);
    };
    call.on('data', (request: InstanceType<StreamsPb['AppendReq']>) => {
      try {
        if (request.hasOptions()) header = request.getOptions();
        else if (request.hasProposedMessage()) {
          events.push(proposedEvent(request.getProposedMessage() as never));
        }
      } catch (error) {
        fail(error as ServiceError);
      }
    });
    call.on('end', () => {
      void (async () => {
        if (failed) return;
        if (!header) return fail(serviceError(grpc.status.INVALID_ARGUMENT, 'No options'));
        if (faults.notLeader) return fail(notLeader(faults.notLeader));
        const timer = commitTimeout(() =>
          fail(serviceError(grpc.status.ABORTED, 'Operation timed out: CommitTimeout')),
        );
        await holdAppend();
        clearTimeout(timer);
        const streamId = nameOf(header.getStreamIdentifier());
        const expected = expectedOfAppend(header);
        const outcome = log.append(streamId, expected, events);
        const response = new AppendResp();
        switch (outcome.kind) {
          case 'stream_deleted':
            return fail(streamDeleted(streamId));
          case 'wrong_expected_version': {
            // Streams.Append.cs: the expected state echoed in both the current and the
            // 20.6.0 fields, the current revision or "no stream".
            const wrong = new AppendResp.WrongExpectedVersion();
            if (expected === 'any') {
              wrong.setExpectedAny(new sharedPb.Empty());
              wrong.setAny2060(new sharedPb.Empty());
            } else if (expected === 'stream_exists') {
              wrong.setExpectedStreamExists(new sharedPb.Empty());
              wrong.setStreamExists2060(new sharedPb.Empty());
            } else if (expected === 'no_stream') {
              wrong.setExpectedNoStream(new sharedPb.Empty());
              // The 20.6.0 fields are uint64 without a string jstype: numbers here; no client reads them.
              wrong.setExpectedRevision2060(Number.MAX_SAFE_INTEGER);
            } else {
              wrong.setExpectedRevision(expected.toString());
              wrong.setExpectedRevision2060(Number(expected));
            }
            if (outcome.current === -1n) {
              wrong.setCurrentNoStream(new sharedPb.Empty());
              wrong.setNoStream2060(new sharedPb.Empty());
            } else {
              wrong.setCurrentRevision(outcome.current.toString());
              wrong.setCurrentRevision2060(Number(outcome.current));
            }
            response.setWrongExpectedVersion(wrong);
            break;
          }
          case 'success': {
            const success = new AppendResp.Success();
            if (outcome.revision === -1n) success.setNoStream(new sharedPb.Empty());
            else success.setCurrentRevision(outcome.revision.toString());
            const position = new AppendResp.Position();
            position.setCommitPosition(outcome.position.toString());
            position.setPreparePosition(outcome.position.toString());
            success.setPosition(position);
            response.setSuccess(success);
            break;
          }
        }
        if (!failed && !call.cancelled) callback(null, response);
      })();
    });
    call.on('error', () => undefined);
  };

  // -- BatchAppend ------------------------------------------------------------------------------
  const expectedOf = (
    batchOptions: InstanceType<StreamsPb['BatchAppendReq']['Options']>,
  ): ExpectedState => {
    const Case = streamsPb.BatchAppendReq.Options.ExpectedStreamPositionCase;
    switch (batchOptions.getExpectedStreamPositionCase()) {
      case Case.STREAM_POSITION:
        return BigInt(batchOptions.getStreamPosition());
      case Case.NO_STREAM:
        return 'no_stream';
      case Case.STREAM_EXISTS:
        return 'stream_exists';
      default:
        return 'any';
    }
  };

  const batchAppend = (
    call: grpc.ServerDuplexStream<
      InstanceType<StreamsPb['BatchAppendReq']>,
      InstanceType<StreamsPb['BatchAppendResp']>
    >,
  ) => {
    count('BatchAppend');
    const pending = new Map<
      string,
      { options: InstanceType<StreamsPb['BatchAppendReq']['Options']>; events: ProposedEvent[] }
    >();
    let ended = false;
    const endWith = (error: Partial<ServiceError>) => {
      if (ended) return;
      ended = true;
      call.emit('error', error);
    };
    // Requests are answered in order; each waits for the one before.
    let queue = Promise.resolve();
    call.on('data', (request: InstanceType<StreamsPb['BatchAppendReq']>) => {
      const correlation = request.getCorrelationId();
      const key = uuidString(correlation);
      if (request.hasOptions()) {
        pending.set(key, { options: request.getOptions() as never, events: [] });
      }
      const write = pending.get(key);
      if (!write) return;
      try {
        for (const message of request.getProposedMessagesList()) {
          write.events.push(proposedEvent(message as never));
        }
      } catch (error) {
        endWith(error as ServiceError);
        return;
      }
      if (!request.getIsFinal()) return;
      pending.delete(key);
      queue = queue.then(async () => {
        if (ended) return;
        // Streams.BatchAppend.cs: a NotHandled(NotLeader) fails the whole call with the
        // leader's endpoint, not just this request.
        if (faults.notLeader) return endWith(notLeader(faults.notLeader));
        const streamId = nameOf(write.options.getStreamIdentifier());
        const held = holdAppend();
        const timer = commitTimeout(() => {
          const response = new BatchAppendResp();
          response.setCorrelationId(correlation);
          response.setStreamIdentifier(streamIdentifier(streamId));
          response.setError(
            packedStatus(
              grpc.status.DEADLINE_EXCEEDED,
              'Operation timed out',
              new sharedPb.Timeout(),
              'event_store.client.Timeout',
            ),
          );
          if (!ended && !call.cancelled) call.write(response);
        });
        if (timer) {
          // Answered at the timeout; the write lands when it lands, holding up nothing after it.
          void held.then(() => log.append(streamId, expectedOf(write.options), write.events));
          return;
        }
        await held;
        const expected = expectedOf(write.options);
        const outcome = log.append(streamId, expected, write.events);
        const response = new BatchAppendResp();
        response.setCorrelationId(correlation);
        response.setStreamIdentifier(streamIdentifier(streamId));
        switch (outcome.kind) {
          case 'success': {
            const success = new BatchAppendResp.Success();
            if (outcome.revision === -1n) success.setNoStream(new sharedPb.Empty() as never);
            else success.setCurrentRevision(outcome.revision.toString());
            const position = new sharedPb.AllStreamPosition();
            position.setCommitPosition(outcome.position.toString());
            position.setPreparePosition(outcome.position.toString());
            success.setPosition(position);
            response.setSuccess(success);
            break;
          }
          case 'wrong_expected_version': {
            // Status.WrongExpectedVersion(current, expected) in the server's Google.Rpc
            // helpers: FAILED_PRECONDITION with a packed event_store.client.WrongExpectedVersion.
            // The code is our reading; the clients only look at the packed details.
            const wrong = new sharedPb.WrongExpectedVersion();
            if (outcome.current === -1n) wrong.setCurrentNoStream(new sharedPb.Empty() as never);
            else wrong.setCurrentStreamRevision(outcome.current.toString());
            if (expected === 'any') wrong.setExpectedAny(new sharedPb.Empty() as never);
            else if (expected === 'no_stream')
              wrong.setExpectedNoStream(new sharedPb.Empty() as never);
            else if (expected === 'stream_exists') {
              wrong.setExpectedStreamExists(new sharedPb.Empty() as never);
            } else wrong.setExpectedStreamPosition(expected.toString());
            response.setError(
              packedStatus(
                grpc.status.FAILED_PRECONDITION,
                'WrongExpectedVersion',
                wrong,
                'event_store.client.WrongExpectedVersion',
              ),
            );
            break;
          }
          case 'stream_deleted': {
            const deleted = new sharedPb.StreamDeleted();
            deleted.setStreamIdentifier(streamIdentifier(streamId));
            response.setError(
              packedStatus(
                grpc.status.FAILED_PRECONDITION,
                `Event stream '${streamId}' is deleted.`,
                deleted,
                'event_store.client.StreamDeleted',
              ),
            );
            break;
          }
        }
        if (!ended && !call.cancelled) call.write(response);
      });
    });
    call.on('end', () => {
      void queue.then(() => {
        if (!ended) {
          ended = true;
          call.end();
        }
      });
    });
    call.on('error', () => undefined);
  };

  // -- Read -------------------------------------------------------------------------------------
  const read = (call: grpc.ServerWritableStream<InstanceType<StreamsPb['ReadReq']>, ReadRespT>) => {
    count('Read');
    const options = call.request.getOptions();
    if (!options) {
      call.emit('error', serviceError(grpc.status.INVALID_ARGUMENT, 'No options'));
      return;
    }
    if (!options.hasUuidOption()) {
      // Streams.Read.cs: RpcExceptions.RequiredArgument(nameof(uuidOption))
      call.emit(
        'error',
        serviceError(grpc.status.INVALID_ARGUMENT, "'uuidOption' is a required argument"),
      );
      return;
    }
    const structuredIds = options.getUuidOption()?.hasStructured() ?? false;
    if (options.hasSubscription()) {
      if (!options.hasAll()) {
        call.emit(
          'error',
          serviceError(grpc.status.UNIMPLEMENTED, 'Stream subscriptions are not modelled'),
        );
        return;
      }
      subscribeToAll(call, options, structuredIds);
      return;
    }
    const backwards = options.getReadDirection() === ReadReq.Options.ReadDirection.BACKWARDS;
    const limit = BigInt(options.getCount() || '0');
    let sent = 0n;
    const send = (record: LogRecord): boolean => {
      if (sent >= limit) return false;
      sent++;
      call.write(eventResponse(record, structuredIds));
      return true;
    };
    if (options.hasStream()) {
      const streamOptions = options.getStream() as InstanceType<
        StreamsPb['ReadReq']['Options']['StreamOptions']
      >;
      const streamId = nameOf(streamOptions.getStreamIdentifier());
      if (log.isTombstoned(streamId)) {
        call.emit('error', streamDeleted(streamId));
        return;
      }
      const records = log.streamRecords(streamId) ?? [];
      if (records.length === 0) {
        // Not an error status: a message the client turns into StreamNotFoundError.
        const notFound = new ReadResp.StreamNotFound();
        notFound.setStreamIdentifier(streamIdentifier(streamId));
        const response = new ReadResp();
        response.setStreamNotFound(notFound);
        call.write(response);
        call.end();
        return;
      }
      const last = BigInt(records.length - 1);
      const from: bigint = streamOptions.hasStart()
        ? backwards
          ? -1n
          : 0n
        : streamOptions.hasEnd()
          ? backwards
            ? last
            : last + 1n
          : BigInt(streamOptions.getRevision());
      if (backwards) {
        for (let r = from > last ? last : from; r >= 0n; r--) {
          if (!send(records[Number(r)] as LogRecord)) break;
        }
      } else {
        for (let r = from; r <= last; r++) if (!send(records[Number(r)] as LogRecord)) break;
      }
      call.end();
      return;
    }
    // $all: forwards from a position includes it, backwards from a position excludes it
    // (ReadAllEventsForward/Backward take the position as the next record to read / the
    // position before which to read).
    const from = readFromAll(options);
    const filter = filterOf(options);
    const passes = (record: LogRecord) => filter?.matches(record) ?? true;
    if (backwards) {
      const start = from === 'end' ? log.all.length : from === 'start' ? 0 : log.indexAt(from);
      for (let i = start - 1; i >= 0; i--) {
        const record = log.all[i] as LogRecord;
        if (passes(record) && !send(record)) break;
      }
    } else {
      const start = from === 'start' ? 0 : from === 'end' ? log.all.length : log.indexAt(from);
      for (let i = start; i < log.all.length; i++) {
        const record = log.all[i] as LogRecord;
        if (passes(record) && !send(record)) break;
      }
    }
    call.end();
  };

  /**
   * A catch-up subscription to $all (Enumerators.AllSubscription / AllSubscriptionFiltered):
   * confirmation first, then every record after the start position (exclusive: "from
   * position" means after it), then CaughtUp once the reader reaches the head, then live
   * records as they are written, with checkpoints along the way when filtered. The hand-over
   * from catch-up to live has no gap and no duplicate because both read one cursor into one log.
   */
  const subscribeToAll = (
    call: grpc.ServerWritableStream<unknown, ReadRespT>,
    options: ReadOptions,
    structuredIds: boolean,
  ) => {
    const from = readFromAll(options);
    const filter = filterOf(options);
    let cursor = from === 'start' ? 0 : from === 'end' ? log.all.length : log.indexAt(from + 1n);
    let examined = 0;
    let caughtUp = false;
    let open = true;

    const confirmation = new ReadResp.SubscriptionConfirmation();
    confirmation.setSubscriptionId(randomUUID());
    const confirmed = new ReadResp();
    confirmed.setConfirmation(confirmation);
    call.write(confirmed);

    const pump = () => {
      if (!open) return;
      while (cursor < log.all.length) {
        const record = log.all[cursor++] as LogRecord;
        if (!filter || filter.matches(record)) call.write(eventResponse(record, structuredIds));
        if (filter && ++examined % filter.checkpointEvery === 0) {
          const checkpoint = new ReadResp.Checkpoint();
          checkpoint.setCommitPosition(record.position.toString());
          checkpoint.setPreparePosition(record.position.toString());
          const response = new ReadResp();
          response.setCheckpoint(checkpoint);
          call.write(response);
        }
      }
      if (!caughtUp) {
        caughtUp = true;
        const response = new ReadResp();
        response.setCaughtUp(new ReadResp.CaughtUp());
        call.write(response);
      }
    };
    const stopListening = log.onWrite(pump);
    const subscription: OpenSubscription = {
      end: (code) => {
        close();
        if (code === grpc.status.OK) call.end();
        else call.emit('error', serviceError(code, 'Subscription dropped by the server'));
      },
    };
    const close = () => {
      if (!open) return;
      open = false;
      stopListening();
      subscriptions.delete(subscription);
      subscriptionsChanged();
    };
    subscriptions.add(subscription);
    subscriptionsChanged();
    call.on('cancelled', close);
    call.on('close', close);
    call.on('error', close);
    pump();
  };

  const streams = {
    read,
    append,
    batchAppend,
    delete: (_call: unknown, callback: grpc.sendUnaryData<never>) =>
      callback(serviceError(grpc.status.UNIMPLEMENTED, 'Delete is not modelled') as ServiceError),
    tombstone: (
      call: grpc.ServerUnaryCall<InstanceType<StreamsPb['TombstoneReq']>, unknown>,
      callback: grpc.sendUnaryData<InstanceType<StreamsPb['TombstoneResp']>>,
    ) => {
      count('Tombstone');
      const streamId = nameOf(call.request.getOptions()?.getStreamIdentifier());
      const position = log.tombstone(streamId).toString();
      const response = new streamsPb.TombstoneResp();
      const at = new streamsPb.TombstoneResp.Position();
      at.setCommitPosition(position);
      at.setPreparePosition(position);
      response.setPosition(at);
      callback(null, response);
    },
  };

  let server: grpc.Server | undefined;
  const listen = async () => {
    const next = new grpc.Server();
    next.addService(streamsGrpc.StreamsService, streams as never);
    next.addService(featuresGrpc.ServerFeaturesService, features as never);
    next.addService(gossipGrpc.GossipService, gossip as never);
    port = await new Promise<number>((resolve, reject) =>
      next.bindAsync(
        `127.0.0.1:${port}`,
        grpc.ServerCredentials.createInsecure(),
        (error, bound) => (error ? reject(error) : resolve(bound)),
      ),
    );
    server = next;
  };

  const kill = async () => {
    const current = server;
    server = undefined;
    for (const subscription of [...subscriptions]) subscription.end(grpc.status.UNAVAILABLE);
    current?.forceShutdown();
    // Let the sockets close before the port is bound again.
    await new Promise((resolve) => setImmediate(resolve));
  };

  await listen();

  return {
    log,
    faults,
    calls,
    get port() {
      return port;
    },
    url: (query = '') =>
      `${options.flavour === 'eventstoredb' ? 'esdb' : 'kurrentdb'}://127.0.0.1:${port}?tls=false${query}`,
    liveSubscriptions: () => subscriptions.size,
    untilSubscriptions: (wanted) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (subscriptions.size < wanted) return;
          subscriptionWaiters.delete(check);
          resolve();
        };
        subscriptionWaiters.add(check);
        check();
      }),
    dropSubscriptions: (code = grpc.status.UNAVAILABLE) => {
      for (const subscription of [...subscriptions]) subscription.end(code);
    },
    kill,
    restart: async () => {
      await kill();
      await listen();
    },
    stop: kill,
  };
};
