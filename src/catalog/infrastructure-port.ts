import type { Clock } from '../engine/clock.js';

/**
 * The infrastructure port: what the catalog's steps call to change a cloud. It lives with the
 * catalog, its consumer; adapters (the simulated cloud, local processes) implement it. Ids are chosen by
 * the caller (like client tokens in real cloud APIs) so that a step retried after a timeout, or
 * an undo run after a crash with an unknown outcome, converges instead of creating duplicates.
 * Every mutating call is idempotent: asking for a state that already holds succeeds and changes
 * nothing.
 */

/** The third-party services that fail independently, each with its own fault plan. */
export type CloudService =
  'compute' | 'object-storage' | 'load-balancer' | 'registry:docker-hub' | 'registry:quay';

export type RegistryName = 'docker-hub' | 'quay';

export interface CallOptions {
  /** Aborting stops waiting for the call; a call aborted before it completes has no effect. */
  signal?: AbortSignal;
}

// ---------------------------------------------------------------------------------------------
// Compute instances

export type InstanceState = 'available' | 'crashed';

export interface InstanceView {
  id: string;
  size: string;
  state: InstanceState;
  /** Image references already pulled onto the instance, sorted. */
  images: string[];
}

export interface ComputeApi {
  /** Launches the instance, or returns it if it exists; a crashed instance is rebooted. */
  ensureInstance(
    spec: { instanceId: string; size?: string },
    options?: CallOptions,
  ): Promise<InstanceView>;
  /** Removes its containers and detaches its volumes (volumes are never deleted here). */
  terminateInstance(instanceId: string, options?: CallOptions): Promise<void>;
  describeInstance(instanceId: string, options?: CallOptions): Promise<InstanceView | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Containers on an instance

export type ContainerState = 'running' | 'exited';
export type HealthPath = '/' | '/healthcheck';

export interface ContainerSpec {
  containerId: string;
  instanceId: string;
  /** Must already be pulled onto the instance: pulling is its own (failover-able) step. */
  image: string;
  command?: readonly string[];
  env?: Readonly<Record<string, string>>;
  sizeMb?: number;
  /** A volume that must be attached to the instance and mounted (database containers). */
  volumeId?: string;
}

export interface ContainerView {
  id: string;
  instanceId: string;
  image: string;
  command: string[];
  env: Record<string, string>;
  sizeMb: number;
  volumeId: string | null;
  state: ContainerState;
}

/** The size of a container whose spec names none. */
export const DEFAULT_CONTAINER_SIZE_MB = 512;

/** A new container as `spec` describes it, running: what every adapter records on a start. */
export const newContainerView = (spec: ContainerSpec, volumeId: string | null): ContainerView => ({
  id: spec.containerId,
  instanceId: spec.instanceId,
  image: spec.image,
  command: [...(spec.command ?? [])],
  env: { ...spec.env },
  sizeMb: spec.sizeMb ?? DEFAULT_CONTAINER_SIZE_MB,
  volumeId,
  state: 'running',
});

export interface HealthCheckResult {
  /** Non-strict: any HTTP response on '/' passes. Strict: '/healthcheck' must answer 200. */
  healthy: boolean;
  path: HealthPath;
  /** null when nothing answered (container stopped, instance crashed, app not listening). */
  status: number | null;
}

export interface StopResult {
  /** SIGKILL when the container did not exit within the stop timeout after SIGTERM. */
  stoppedBy: 'SIGTERM' | 'SIGKILL' | 'already-stopped';
  elapsedMs: number;
}

export interface ContainerApi {
  pullImage(
    spec: { instanceId: string; image: string; registry: RegistryName },
    options?: CallOptions,
  ): Promise<void>;
  /** Starts it, or returns it when already running; an exited container is started again. */
  startContainer(spec: ContainerSpec, options?: CallOptions): Promise<ContainerView>;
  checkHealth(
    spec: { containerId: string; strict?: boolean },
    options?: CallOptions,
  ): Promise<HealthCheckResult>;
  /** SIGTERM, then SIGKILL after `stopTimeoutMs` (default 10 s). */
  stopContainer(
    spec: { containerId: string; stopTimeoutMs?: number },
    options?: CallOptions,
  ): Promise<StopResult>;
  /** Only an exited container can be removed, as with `docker rm` without force. */
  removeContainer(containerId: string, options?: CallOptions): Promise<void>;
  describeContainer(containerId: string, options?: CallOptions): Promise<ContainerView | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Volumes: attached to at most one instance at a time

export interface VolumeView {
  id: string;
  sizeGb: number;
  attachedTo: string | null;
  mounted: boolean;
  mountPath: string | null;
}

export interface VolumeApi {
  createVolume(
    spec: { volumeId: string; sizeGb: number },
    options?: CallOptions,
  ): Promise<VolumeView>;
  /** Fails with VOLUME_IN_USE when it is attached to another instance. */
  attachVolume(
    spec: { volumeId: string; instanceId: string },
    options?: CallOptions,
  ): Promise<void>;
  mountVolume(spec: { volumeId: string; mountPath?: string }, options?: CallOptions): Promise<void>;
  /** Fails with VOLUME_BUSY while a running container uses it. */
  unmountVolume(volumeId: string, options?: CallOptions): Promise<void>;
  /** Fails with VOLUME_MOUNTED while mounted: unmount first. */
  detachVolume(volumeId: string, options?: CallOptions): Promise<void>;
  /** Grows only; a smaller size is refused, the same size is a no-op. */
  resizeVolume(spec: { volumeId: string; sizeGb: number }, options?: CallOptions): Promise<void>;
  /** Fails with VOLUME_IN_USE while attached. */
  deleteVolume(volumeId: string, options?: CallOptions): Promise<void>;
  describeVolume(volumeId: string, options?: CallOptions): Promise<VolumeView | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Load-balancer endpoints and their targets (containers)

export interface DrainingTarget {
  containerId: string;
  /** ISO 8601: when in-flight requests have had their drain period. */
  until: string;
}

export interface EndpointView {
  id: string;
  /** Registered, non-draining targets, in registration order. */
  targets: string[];
  draining: DrainingTarget[];
}

export const DEFAULT_DRAIN_MS = 15_000;
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

export interface LoadBalancerApi {
  createEndpoint(spec: { endpointId: string }, options?: CallOptions): Promise<EndpointView>;
  registerTarget(
    spec: { endpointId: string; containerId: string },
    options?: CallOptions,
  ): Promise<void>;
  /**
   * Stops routing new requests to the target at once, and resolves once in-flight requests have
   * had `drainMs` (default 15 s): the caller may then stop the container safely.
   */
  deregisterTarget(
    spec: { endpointId: string; containerId: string; drainMs?: number },
    options?: CallOptions,
  ): Promise<void>;
  deleteEndpoint(endpointId: string, options?: CallOptions): Promise<void>;
  describeEndpoint(endpointId: string, options?: CallOptions): Promise<EndpointView | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Object storage (database backups)

export interface ObjectStorageApi {
  putObject(
    spec: { bucket: string; key: string; body: string },
    options?: CallOptions,
  ): Promise<void>;
  getObject(
    spec: { bucket: string; key: string },
    options?: CallOptions,
  ): Promise<string | undefined>;
  deleteObject(spec: { bucket: string; key: string }, options?: CallOptions): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Databases: a container plus a volume

export interface DatabaseView {
  id: string;
  volumeId: string;
}

export interface DatabaseApi {
  /**
   * Declares that the database's data lives on `volumeId`: it accepts connections exactly while
   * a running container started with that volume has it mounted on its (available) instance.
   */
  createDatabase(
    spec: { databaseId: string; volumeId: string },
    options?: CallOptions,
  ): Promise<DatabaseView>;
  deleteDatabase(databaseId: string, options?: CallOptions): Promise<void>;
  /** A connection probe, not a control-plane call: API outages do not affect it. */
  acceptsConnections(databaseId: string, options?: CallOptions): Promise<boolean>;
}

export interface InfrastructurePort {
  /**
   * The time this infrastructure keeps, when it keeps its own (the simulated cloud's virtual
   * clock): the catalog's steps poll health checks and space clean-up retries on it, so they
   * wait in the cloud's time. Absent: the system clock.
   */
  readonly clock?: Clock;
  compute: ComputeApi;
  containers: ContainerApi;
  volumes: VolumeApi;
  loadBalancer: LoadBalancerApi;
  objectStorage: ObjectStorageApi;
  databases: DatabaseApi;
}

/** Every call of the port by name: durations, fault hooks and errors refer to calls this way. */
export type CloudCall =
  | 'ensureInstance'
  | 'terminateInstance'
  | 'describeInstance'
  | 'pullImage'
  | 'startContainer'
  | 'checkHealth'
  | 'stopContainer'
  | 'removeContainer'
  | 'describeContainer'
  | 'createVolume'
  | 'attachVolume'
  | 'mountVolume'
  | 'unmountVolume'
  | 'detachVolume'
  | 'resizeVolume'
  | 'deleteVolume'
  | 'describeVolume'
  | 'createEndpoint'
  | 'registerTarget'
  | 'deregisterTarget'
  | 'deleteEndpoint'
  | 'describeEndpoint'
  | 'putObject'
  | 'getObject'
  | 'deleteObject'
  | 'createDatabase'
  | 'deleteDatabase'
  | 'acceptsConnections';
