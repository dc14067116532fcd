import type { ResourceRef } from './events.js';

// Every stream name opledger writes, in one place: the engine writes them, the projections and
// recovery read them back by prefix, and a change here must reach them all at once.

/** The prefix of every operation's stream: `operation-<id>`. */
export const OPERATION_STREAM_PREFIX = 'operation-';

/** The prefix of every resource queue's stream: `resource-<environment>/<type>/<handle>`. */
export const RESOURCE_STREAM_PREFIX = 'resource-';

/**
 * The prefix of the streams of resource queue snapshots: `snapshot-resource-<...>`, beside the
 * queue they fold. Not `resource-`: recovery and anyone listing queues by that prefix must not
 * take a snapshot stream for a queue.
 */
export const RESOURCE_SNAPSHOT_STREAM_PREFIX = 'snapshot-';

/** The prefix of the streams that remember which operation an idempotency key started. */
export const IDEMPOTENCY_STREAM_PREFIX = 'idempotency-';

/**
 * The resource type of the requests that provision or deprovision an Environment itself (its
 * handle is the environment's name): the projections create and retire the environment on it.
 */
export const ENVIRONMENT_RESOURCE = 'environment';

/**
 * The stream of one operation's events.
 *
 * @example
 * ```ts
 * operationStreamName('op-1'); // 'operation-op-1'
 * ```
 */
export const operationStreamName = (id: string): string => `${OPERATION_STREAM_PREFIX}${id}`;

/** The operation id of an operation's stream, or undefined for any other stream. */
export const operationIdOfStream = (streamName: string): string | undefined =>
  streamName.startsWith(OPERATION_STREAM_PREFIX)
    ? streamName.slice(OPERATION_STREAM_PREFIX.length)
    : undefined;

/**
 * The queue stream of one resource. Each part is URI-encoded, so handles with `/` or `%` never
 * name another resource's queue.
 *
 * @example
 * ```ts
 * resourceStreamName('production', { type: 'app', handle: 'web' }); // 'resource-production/app/web'
 * ```
 */
export const resourceStreamName = (environment: string, resource: ResourceRef): string =>
  `${RESOURCE_STREAM_PREFIX}${encodeURIComponent(environment)}/${encodeURIComponent(resource.type)}/${encodeURIComponent(resource.handle)}`;

/** Whether a stream is a resource queue's. */
export const isResourceStream = (streamName: string): boolean =>
  streamName.startsWith(RESOURCE_STREAM_PREFIX);

/** The stream that records the operation an idempotency key started. */
export const idempotencyStreamName = (key: string): string =>
  `${IDEMPOTENCY_STREAM_PREFIX}${encodeURIComponent(key)}`;

/**
 * The stream of the snapshots of one resource queue (see ResourceQueueSnapshotted).
 *
 * @example
 * ```ts
 * resourceSnapshotStreamName('resource-production/app/web'); // 'snapshot-resource-production/app/web'
 * ```
 */
export const resourceSnapshotStreamName = (resourceStream: string): string =>
  `${RESOURCE_SNAPSHOT_STREAM_PREFIX}${resourceStream}`;
/** The prefix of worker lease streams: `worker-<lease>`. */
export const WORKER_STREAM_PREFIX = 'worker-';

/** The stream every worker registers its lease on, where `opledger workers` finds them. */
export const WORKERS_STREAM = 'workers';

/**
 * The stream of one worker lease (a worker process's, from start to stop).
 *
 * @example
 * ```ts
 * leaseStreamName('web-1.0193a'); // 'worker-web-1.0193a'
 * ```
 */
export const leaseStreamName = (lease: string): string =>
  `${WORKER_STREAM_PREFIX}${encodeURIComponent(lease)}`;

/** The lease of a worker lease stream, or undefined for any other stream. */
export const leaseOfStream = (streamName: string): string | undefined =>
  streamName.startsWith(WORKER_STREAM_PREFIX)
    ? decodeURIComponent(streamName.slice(WORKER_STREAM_PREFIX.length))
    : undefined;
