import type { Clock } from '../../engine/clock.js';
import { createVirtualClock } from '../../engine/virtual-clock.js';
import { createAvailabilityLedger } from './availability-ledger.js';
import { DEFAULT_CALL_DURATIONS, type CallDurations } from './call-durations.js';
import {
  CloudRequestError,
  CloudServiceError,
  type CloudRequestCode,
} from '../../catalog/cloud-errors.js';
import {
  behaviourOf,
  databaseAccepting,
  emptyCloudState,
  endpointAvailable,
  type CloudState,
  type CloudSnapshot,
  type ImageBehaviour,
} from './cloud-state.js';
import { emptyFaultPlan, faultFor, toEpochMs } from './fault-plan.js';
import {
  DEFAULT_DRAIN_MS,
  DEFAULT_STOP_TIMEOUT_MS,
  type CallOptions,
  type CloudCall,
  type CloudService,
  type ContainerView,
  type EndpointView,
  type InfrastructurePort,
  type InstanceView,
  type StopResult,
  type VolumeView,
  newContainerView,
} from '../../catalog/infrastructure-port.js';
import { createSeededRandom } from './seeded-random.js';
import type { TimelineEntry, TimelineKind } from './timeline.js';

export interface SimulatedCloudOptions {
  seed: number;
  /** Share the engine's virtual clock so operation timestamps and cloud time agree. */
  clock?: Clock;
  durations?: Partial<CallDurations>;
  images?: Record<string, ImageBehaviour>;
  /**
   * Start from a saved state (a `snapshot()` without its `now`) instead of an empty cloud: the
   * CLI keeps its simulated cloud in a file between runs. Drains in progress resume.
   */
  state?: CloudState;
}

export type VirtualTime = Date | number | string;

export interface CrashOnCallOptions {
  call: CloudCall;
  /** Which occurrence of the call (1-based, counting every call of that name). Default 1. */
  occurrence?: number;
  /** 'before': the call meets a crashed instance; 'after': the call completes, then the crash. */
  timing?: 'before' | 'after';
}

export interface SimulatedCloudFaults {
  /** Calls to `service` starting in [from, to) fail with OUTAGE. */
  outage(service: CloudService, window: { from: VirtualTime; to: VirtualTime }): void;
  /** Each call to `service` fails with ERROR_RATE with this probability (seeded). 0 clears. */
  errorRate(service: CloudService, rate: number): void;
  /** Crashes the instance at a virtual time (default: now); no-op if it does not exist then. */
  crashInstance(instanceId: string, options?: { at?: VirtualTime }): void;
  crashInstanceOnCall(instanceId: string, options: CrashOnCallOptions): void;
  /** Removes outages, error rates and crash hooks not yet fired; crashes already done stay. */
  clear(): void;
}

export interface Downtime {
  endpoints: Record<string, number>;
  databases: Record<string, number>;
}

export interface SimulatedCloud extends InfrastructurePort {
  readonly clock: Clock;
  readonly seed: number;
  readonly faults: SimulatedCloudFaults;
  /** A deep copy of the whole state: mutate it freely, compare it with toEqual. */
  snapshot(): CloudSnapshot;
  /** Virtual ms without a healthy target (endpoints) or without connections (databases). */
  downtime(): Downtime;
  /** Every change so far, oldest first (a copy). */
  timeline(): TimelineEntry[];
  setImageBehaviour(image: string, behaviour: ImageBehaviour): void;
  /** How many times each call was made, failed ones included. */
  callCounts(): Partial<Record<CloudCall, number>>;
}

type Scheduled =
  | { at: number; seq: number; kind: 'crash'; instanceId: string }
  | { at: number; seq: number; kind: 'drain-end'; endpointId: string; containerId: string };

// Distributes over the union, so each variant keeps its own fields.
type Unscheduled = Scheduled extends infer S
  ? S extends Scheduled
    ? Omit<S, 'seq'>
    : never
  : never;

interface CrashHook extends Required<CrashOnCallOptions> {
  instanceId: string;
}

const DEFAULT_INSTANCE_SIZE = 'standard';

/**
 * A copy without a prototype. Ids are the user's (an app named `constructor` has an endpoint
 * `constructor`, `__proto__` is a valid bucket key): in a plain object a lookup by such an id
 * would find Object.prototype's property, and an assignment to `__proto__` would set the
 * prototype. Here every id is an own key; copies handed out (structuredClone) are plain again.
 */
const ownKeyed = <V>(record: Readonly<Record<string, V>>): Record<string, V> =>
  Object.assign(Object.create(null) as Record<string, V>, record);

const ownKeyedState = (state: CloudState): CloudState => ({
  instances: ownKeyed(state.instances),
  containers: ownKeyed(state.containers),
  volumes: ownKeyed(state.volumes),
  endpoints: ownKeyed(state.endpoints),
  databases: ownKeyed(state.databases),
  objects: ownKeyed(
    Object.fromEntries(Object.entries(state.objects).map(([bucket, o]) => [bucket, ownKeyed(o)])),
  ),
});

/**
 * A cloud in memory on a virtual clock: every call sleeps its virtual duration on the clock (no
 * real waiting) and then applies its effect, so state changes happen when the call completes.
 * Scheduled changes (crashes, ends of drains) are applied lazily at their own virtual time,
 * whenever the cloud is next touched, because the clock may be moved by others (the engine).
 */
export const createSimulatedCloud = (options: SimulatedCloudOptions): SimulatedCloud => {
  const clock = options.clock ?? createVirtualClock();
  const durations: CallDurations = { ...DEFAULT_CALL_DURATIONS, ...options.durations };
  const images: Record<string, ImageBehaviour> = ownKeyed({ ...options.images });
  const random = createSeededRandom(options.seed);
  const state = ownKeyedState(options.state ? structuredClone(options.state) : emptyCloudState());
  const plan = emptyFaultPlan();
  const endpointLedger = createAvailabilityLedger();
  const databaseLedger = createAvailabilityLedger();
  const entries: TimelineEntry[] = [];
  const counts: Partial<Record<CloudCall, number>> = {};
  let scheduled: Scheduled[] = [];
  let hooks: CrashHook[] = [];
  let seq = 0;

  const nowMs = () => clock.now().getTime();
  const iso = (ms: number) => new Date(ms).toISOString();
  const record = (
    at: number,
    kind: TimelineKind,
    subject: string,
    detail?: TimelineEntry['detail'],
  ) => entries.push(detail ? { at, kind, subject, detail } : { at, kind, subject });

  /** Re-evaluates availability after any change, so downtime starts at the exact change. */
  const refresh = (at: number) => {
    for (const id of Object.keys(state.endpoints)) {
      const change = endpointLedger.observe(id, endpointAvailable(state, images, id), at);
      if (change) record(at, change === 'up' ? 'endpoint-up' : 'endpoint-down', id);
    }
    for (const id of Object.keys(state.databases)) {
      const change = databaseLedger.observe(id, databaseAccepting(state, id), at);
      if (change) record(at, change === 'up' ? 'database-up' : 'database-down', id);
    }
  };

  const crash = (instanceId: string, at: number) => {
    const instance = state.instances[instanceId];
    if (!instance || instance.state === 'crashed') return;
    instance.state = 'crashed';
    record(at, 'instance-crashed', instanceId);
    for (const c of Object.values(state.containers)) {
      if (c.instanceId === instanceId && c.state === 'running') {
        c.state = 'exited';
        record(at, 'container-stopped', c.id, { reason: 'instance-crashed' });
      }
    }
    // Mounts do not survive a crash; the attachment does (the volume must be detached).
    for (const v of Object.values(state.volumes)) {
      if (v.attachedTo === instanceId && v.mounted) {
        v.mounted = false;
        v.mountPath = null;
        record(at, 'volume-unmounted', v.id, { reason: 'instance-crashed' });
      }
    }
    refresh(at);
  };

  const finishDrain = (endpointId: string, containerId: string, at: number) => {
    const endpoint = state.endpoints[endpointId];
    const draining = endpoint?.draining.find((d) => d.containerId === containerId);
    // Re-registered or endpoint deleted meanwhile: this drain no longer exists.
    if (!endpoint || !draining || toEpochMs(draining.until) !== at) return;
    endpoint.draining = endpoint.draining.filter((d) => d !== draining);
    record(at, 'target-drained', endpointId, { containerId });
  };

  const settle = () => {
    const now = nowMs();
    for (;;) {
      const due = scheduled
        .filter((s) => s.at <= now)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) return;
      scheduled = scheduled.filter((s) => s !== due);
      if (due.kind === 'crash') crash(due.instanceId, due.at);
      else finishDrain(due.endpointId, due.containerId, due.at);
    }
  };

  const schedule = (event: Unscheduled) => {
    scheduled.push({ ...event, seq: seq++ });
  };

  const fireHooks = (call: CloudCall, occurrence: number, timing: 'before' | 'after') => {
    const due = hooks.filter(
      (h) => h.call === call && h.occurrence === occurrence && h.timing === timing,
    );
    hooks = hooks.filter((h) => !due.includes(h));
    for (const h of due) crash(h.instanceId, nowMs());
  };

  /**
   * Every call goes through here: faults are decided when the call starts, the effect is
   * applied when its virtual duration has elapsed. `service` null: a probe, not an API call.
   */
  const call = async <T>(
    name: CloudCall,
    service: CloudService | null,
    callOptions: CallOptions | undefined,
    effect: (at: number) => T,
    duration: () => number = () => durations[name],
  ): Promise<T> => {
    const signal = callOptions?.signal;
    if (signal?.aborted) throw signal.reason;
    settle();
    const occurrence = (counts[name] = (counts[name] ?? 0) + 1);
    fireHooks(name, occurrence, 'before');
    const fault = service ? faultFor(plan, service, nowMs(), random) : null;
    if (fault && service) {
      await clock.sleep(durations.failedCall, signal);
      settle();
      record(nowMs(), 'call-failed', name, { service, code: fault });
      throw new CloudServiceError(service, name, fault);
    }
    await clock.sleep(duration(), signal);
    settle();
    const at = nowMs();
    let result: T;
    try {
      result = effect(at);
      refresh(at);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      record(at, 'call-failed', name, { code: typeof code === 'string' ? code : 'UNKNOWN' });
      throw error;
    }
    // 'after' means after the call took effect: a call that failed never reaches it.
    fireHooks(name, occurrence, 'after');
    return result;
  };

  const refuse = (name: CloudCall, code: CloudRequestCode, problem: string): never => {
    throw new CloudRequestError(name, code, problem);
  };
  const requireInstance = (name: CloudCall, instanceId: string): InstanceView =>
    state.instances[instanceId] ??
    refuse(name, 'NOT_FOUND', `instance ${instanceId} does not exist`);
  const requireAvailable = (name: CloudCall, instanceId: string): InstanceView => {
    const instance = requireInstance(name, instanceId);
    if (instance.state === 'crashed') {
      throw new CloudServiceError('compute', name, 'INSTANCE_CRASHED', instanceId);
    }
    return instance;
  };
  const requireVolume = (name: CloudCall, volumeId: string): VolumeView =>
    state.volumes[volumeId] ?? refuse(name, 'NOT_FOUND', `volume ${volumeId} does not exist`);
  const requireEndpoint = (name: CloudCall, endpointId: string): EndpointView =>
    state.endpoints[endpointId] ??
    refuse(name, 'NOT_FOUND', `endpoint ${endpointId} does not exist`);
  const copy = <T>(value: T): T => structuredClone(value);

  const stopPlan = (containerId: string, stopTimeoutMs: number): StopResult => {
    const container = state.containers[containerId];
    if (!container || container.state !== 'running') {
      return { stoppedBy: 'already-stopped', elapsedMs: 0 };
    }
    const behaviour = behaviourOf(images, container.image);
    const shutdown = behaviour.ignoresSigterm
      ? Number.POSITIVE_INFINITY
      : (behaviour.shutdownMs ?? durations.stopContainer);
    return shutdown <= stopTimeoutMs
      ? { stoppedBy: 'SIGTERM', elapsedMs: shutdown }
      : { stoppedBy: 'SIGKILL', elapsedMs: stopTimeoutMs };
  };

  const cloud: SimulatedCloud = {
    clock,
    seed: options.seed,

    compute: {
      ensureInstance: ({ instanceId, size }, o) =>
        call('ensureInstance', 'compute', o, (at) => {
          const existing = state.instances[instanceId];
          if (existing?.state === 'crashed') {
            existing.state = 'available';
            record(at, 'instance-rebooted', instanceId);
          } else if (!existing) {
            const launched = { id: instanceId, size: size ?? DEFAULT_INSTANCE_SIZE };
            state.instances[instanceId] = { ...launched, state: 'available', images: [] };
            record(at, 'instance-launched', instanceId, { size: launched.size });
          }
          return copy(state.instances[instanceId] as InstanceView);
        }),
      terminateInstance: (instanceId, o) =>
        call('terminateInstance', 'compute', o, (at) => {
          if (!state.instances[instanceId]) return;
          for (const c of Object.values(state.containers)) {
            if (c.instanceId !== instanceId) continue;
            delete state.containers[c.id];
            record(at, 'container-removed', c.id, { reason: 'instance-terminated' });
          }
          // Data volumes outlive the instance, as on real clouds: never lose a database.
          for (const v of Object.values(state.volumes)) {
            if (v.attachedTo !== instanceId) continue;
            Object.assign(v, { attachedTo: null, mounted: false, mountPath: null });
            record(at, 'volume-detached', v.id, { instanceId, reason: 'instance-terminated' });
          }
          delete state.instances[instanceId];
          record(at, 'instance-terminated', instanceId);
        }),
      describeInstance: (instanceId, o) =>
        call('describeInstance', 'compute', o, () => copy(state.instances[instanceId])),
    },

    containers: {
      pullImage: ({ instanceId, image, registry }, o) =>
        call('pullImage', `registry:${registry}`, o, (at) => {
          const instance = requireAvailable('pullImage', instanceId);
          if (instance.images.includes(image)) return;
          instance.images = [...instance.images, image].sort();
          record(at, 'image-pulled', instanceId, { image, registry });
        }),
      startContainer: (spec, o) =>
        call('startContainer', 'compute', o, (at) => {
          const instance = requireAvailable('startContainer', spec.instanceId);
          const existing = state.containers[spec.containerId];
          if (
            existing &&
            (existing.instanceId !== spec.instanceId || existing.image !== spec.image)
          ) {
            refuse(
              'startContainer',
              'CONFLICT',
              `container ${spec.containerId} already exists with image ${existing.image} on instance ${existing.instanceId}`,
            );
          }
          if (existing?.state === 'running') return copy(existing);
          if (!instance.images.includes(spec.image)) {
            refuse(
              'startContainer',
              'IMAGE_NOT_PULLED',
              `image ${spec.image} is not on instance ${spec.instanceId}; pull it first`,
            );
          }
          const volumeId = existing?.volumeId ?? spec.volumeId ?? null;
          if (volumeId !== null) {
            const volume = requireVolume('startContainer', volumeId);
            if (volume.attachedTo !== spec.instanceId) {
              refuse(
                'startContainer',
                'VOLUME_NOT_ATTACHED',
                `volume ${volumeId} is not attached to instance ${spec.instanceId}`,
              );
            }
            if (!volume.mounted) {
              refuse('startContainer', 'VOLUME_NOT_MOUNTED', `volume ${volumeId} is not mounted`);
            }
          }
          const container: ContainerView = existing ?? newContainerView(spec, volumeId);
          container.state = 'running';
          state.containers[container.id] = container;
          record(at, 'container-started', container.id, {
            instanceId: container.instanceId,
            image: container.image,
          });
          return copy(container);
        }),
      checkHealth: ({ containerId, strict = false }, o) =>
        call('checkHealth', null, o, () => {
          const path = strict ? '/healthcheck' : '/';
          const container = state.containers[containerId];
          const answering =
            container?.state === 'running' &&
            state.instances[container.instanceId]?.state === 'available' &&
            behaviourOf(images, container.image).responds !== false;
          if (!container || !answering) return { healthy: false, path, status: null };
          const status = behaviourOf(images, container.image).status?.[path] ?? 200;
          return { healthy: strict ? status === 200 : true, path, status };
        }),
      stopContainer: ({ containerId, stopTimeoutMs = DEFAULT_STOP_TIMEOUT_MS }, o) => {
        let planned: StopResult = { stoppedBy: 'already-stopped', elapsedMs: 0 };
        return call(
          'stopContainer',
          'compute',
          o,
          (at) => {
            const container = state.containers[containerId];
            if (!container || container.state !== 'running') {
              return { stoppedBy: 'already-stopped', elapsedMs: planned.elapsedMs } as StopResult;
            }
            requireAvailable('stopContainer', container.instanceId);
            container.state = 'exited';
            record(at, 'container-stopped', containerId, { signal: planned.stoppedBy });
            return planned;
          },
          () => {
            planned = stopPlan(containerId, stopTimeoutMs);
            return planned.elapsedMs;
          },
        );
      },
      removeContainer: (containerId, o) =>
        call('removeContainer', 'compute', o, (at) => {
          const container = state.containers[containerId];
          if (!container) return;
          if (container.state === 'running') {
            refuse(
              'removeContainer',
              'CONTAINER_RUNNING',
              `container ${containerId} is running; stop it first`,
            );
          }
          requireAvailable('removeContainer', container.instanceId);
          delete state.containers[containerId];
          record(at, 'container-removed', containerId);
        }),
      describeContainer: (containerId, o) =>
        call('describeContainer', 'compute', o, () => copy(state.containers[containerId])),
    },

    volumes: {
      createVolume: ({ volumeId, sizeGb }, o) =>
        call('createVolume', 'compute', o, (at) => {
          if (!Number.isInteger(sizeGb) || sizeGb <= 0) {
            refuse(
              'createVolume',
              'INVALID_REQUEST',
              `size must be a positive integer of GB, got ${sizeGb}`,
            );
          }
          const existing = state.volumes[volumeId];
          if (existing && existing.sizeGb !== sizeGb) {
            refuse(
              'createVolume',
              'CONFLICT',
              `volume ${volumeId} already exists with ${existing.sizeGb} GB`,
            );
          }
          if (!existing) {
            state.volumes[volumeId] = {
              id: volumeId,
              sizeGb,
              attachedTo: null,
              mounted: false,
              mountPath: null,
            };
            record(at, 'volume-created', volumeId, { sizeGb });
          }
          return copy(state.volumes[volumeId] as VolumeView);
        }),
      attachVolume: ({ volumeId, instanceId }, o) =>
        call('attachVolume', 'compute', o, (at) => {
          const volume = requireVolume('attachVolume', volumeId);
          requireInstance('attachVolume', instanceId);
          if (volume.attachedTo === instanceId) return;
          if (volume.attachedTo !== null) {
            refuse(
              'attachVolume',
              'VOLUME_IN_USE',
              `volume ${volumeId} is attached to instance ${volume.attachedTo}; detach it first`,
            );
          }
          requireAvailable('attachVolume', instanceId);
          volume.attachedTo = instanceId;
          record(at, 'volume-attached', volumeId, { instanceId });
        }),
      mountVolume: ({ volumeId, mountPath }, o) =>
        call('mountVolume', 'compute', o, (at) => {
          const volume = requireVolume('mountVolume', volumeId);
          if (volume.attachedTo === null) {
            refuse(
              'mountVolume',
              'VOLUME_NOT_ATTACHED',
              `volume ${volumeId} is not attached; attach it first`,
            );
          }
          if (volume.mounted) return;
          requireAvailable('mountVolume', volume.attachedTo as string);
          volume.mounted = true;
          volume.mountPath = mountPath ?? `/mnt/${volumeId}`;
          record(at, 'volume-mounted', volumeId, { mountPath: volume.mountPath });
        }),
      unmountVolume: (volumeId, o) =>
        call('unmountVolume', 'compute', o, (at) => {
          const volume = state.volumes[volumeId];
          if (!volume || !volume.mounted) return;
          const user = Object.values(state.containers).find(
            (c) => c.state === 'running' && c.volumeId === volumeId,
          );
          if (user) {
            refuse(
              'unmountVolume',
              'VOLUME_BUSY',
              `container ${user.id} is using volume ${volumeId}; stop it first`,
            );
          }
          requireAvailable('unmountVolume', volume.attachedTo as string);
          volume.mounted = false;
          volume.mountPath = null;
          record(at, 'volume-unmounted', volumeId);
        }),
      detachVolume: (volumeId, o) =>
        call('detachVolume', 'compute', o, (at) => {
          const volume = state.volumes[volumeId];
          if (!volume || volume.attachedTo === null) return;
          if (volume.mounted) {
            refuse(
              'detachVolume',
              'VOLUME_MOUNTED',
              `volume ${volumeId} is mounted; unmount it first`,
            );
          }
          const instanceId = volume.attachedTo;
          volume.attachedTo = null;
          record(at, 'volume-detached', volumeId, { instanceId });
        }),
      resizeVolume: ({ volumeId, sizeGb }, o) =>
        call('resizeVolume', 'compute', o, (at) => {
          const volume = requireVolume('resizeVolume', volumeId);
          if (!Number.isInteger(sizeGb) || sizeGb < volume.sizeGb) {
            refuse(
              'resizeVolume',
              'INVALID_REQUEST',
              `volume ${volumeId} can only grow: it has ${volume.sizeGb} GB, asked ${sizeGb}`,
            );
          }
          if (sizeGb === volume.sizeGb) return;
          record(at, 'volume-resized', volumeId, { from: volume.sizeGb, to: sizeGb });
          volume.sizeGb = sizeGb;
        }),
      deleteVolume: (volumeId, o) =>
        call('deleteVolume', 'compute', o, (at) => {
          const volume = state.volumes[volumeId];
          if (!volume) return;
          if (volume.attachedTo !== null) {
            refuse(
              'deleteVolume',
              'VOLUME_IN_USE',
              `volume ${volumeId} is attached to ${volume.attachedTo}; detach it first`,
            );
          }
          delete state.volumes[volumeId];
          record(at, 'volume-deleted', volumeId);
        }),
      describeVolume: (volumeId, o) =>
        call('describeVolume', 'compute', o, () => copy(state.volumes[volumeId])),
    },

    loadBalancer: {
      createEndpoint: ({ endpointId }, o) =>
        call('createEndpoint', 'load-balancer', o, (at) => {
          if (!state.endpoints[endpointId]) {
            state.endpoints[endpointId] = { id: endpointId, targets: [], draining: [] };
            record(at, 'endpoint-created', endpointId);
          }
          return copy(state.endpoints[endpointId] as EndpointView);
        }),
      registerTarget: ({ endpointId, containerId }, o) =>
        call('registerTarget', 'load-balancer', o, (at) => {
          const endpoint = requireEndpoint('registerTarget', endpointId);
          if (!state.containers[containerId]) {
            refuse('registerTarget', 'NOT_FOUND', `container ${containerId} does not exist`);
          }
          if (endpoint.targets.includes(containerId)) return;
          endpoint.draining = endpoint.draining.filter((d) => d.containerId !== containerId);
          endpoint.targets = [...endpoint.targets, containerId];
          record(at, 'target-registered', endpointId, { containerId });
        }),
      deregisterTarget: async ({ endpointId, containerId, drainMs = DEFAULT_DRAIN_MS }, o) => {
        const drainedAt = await call('deregisterTarget', 'load-balancer', o, (at) => {
          const endpoint = state.endpoints[endpointId];
          if (!endpoint) return null;
          const draining = endpoint.draining.find((d) => d.containerId === containerId);
          if (draining) return toEpochMs(draining.until);
          if (!endpoint.targets.includes(containerId)) return null;
          endpoint.targets = endpoint.targets.filter((t) => t !== containerId);
          if (drainMs <= 0) {
            record(at, 'target-drained', endpointId, { containerId });
            return null;
          }
          endpoint.draining = [...endpoint.draining, { containerId, until: iso(at + drainMs) }];
          schedule({ at: at + drainMs, kind: 'drain-end', endpointId, containerId });
          record(at, 'target-draining', endpointId, { containerId, drainMs });
          return at + drainMs;
        });
        if (drainedAt !== null && drainedAt > nowMs()) {
          await clock.sleep(drainedAt - nowMs(), o?.signal);
        }
        settle();
      },
      deleteEndpoint: (endpointId, o) =>
        call('deleteEndpoint', 'load-balancer', o, (at) => {
          if (!state.endpoints[endpointId]) return;
          delete state.endpoints[endpointId];
          endpointLedger.retire(endpointId, at);
          record(at, 'endpoint-deleted', endpointId);
        }),
      describeEndpoint: (endpointId, o) =>
        call('describeEndpoint', 'load-balancer', o, () => copy(state.endpoints[endpointId])),
    },

    objectStorage: {
      putObject: ({ bucket, key, body }, o) =>
        call('putObject', 'object-storage', o, (at) => {
          state.objects[bucket] = ownKeyed({ ...state.objects[bucket], [key]: body });
          record(at, 'object-put', `${bucket}/${key}`, { bytes: body.length });
        }),
      getObject: ({ bucket, key }, o) =>
        call('getObject', 'object-storage', o, () => state.objects[bucket]?.[key]),
      deleteObject: ({ bucket, key }, o) =>
        call('deleteObject', 'object-storage', o, (at) => {
          const objects = state.objects[bucket];
          if (!objects || !(key in objects)) return;
          delete objects[key];
          if (Object.keys(objects).length === 0) delete state.objects[bucket];
          record(at, 'object-deleted', `${bucket}/${key}`);
        }),
    },

    databases: {
      createDatabase: ({ databaseId, volumeId }, o) =>
        call('createDatabase', 'compute', o, (at) => {
          requireVolume('createDatabase', volumeId);
          const existing = state.databases[databaseId];
          if (existing && existing.volumeId !== volumeId) {
            refuse(
              'createDatabase',
              'CONFLICT',
              `database ${databaseId} already uses volume ${existing.volumeId}`,
            );
          }
          if (!existing) {
            state.databases[databaseId] = { id: databaseId, volumeId };
            record(at, 'database-created', databaseId, { volumeId });
          }
          return copy(state.databases[databaseId] as { id: string; volumeId: string });
        }),
      deleteDatabase: (databaseId, o) =>
        call('deleteDatabase', 'compute', o, (at) => {
          if (!state.databases[databaseId]) return;
          delete state.databases[databaseId];
          databaseLedger.retire(databaseId, at);
          record(at, 'database-deleted', databaseId);
        }),
      acceptsConnections: (databaseId, o) =>
        call('acceptsConnections', null, o, () => databaseAccepting(state, databaseId)),
    },

    faults: {
      outage: (service, { from, to }) => {
        plan.outages.push({ service, from: toEpochMs(from), to: toEpochMs(to) });
      },
      errorRate: (service, rate) => {
        if (!(rate >= 0 && rate <= 1))
          throw new RangeError(`error rate must be in [0, 1], got ${rate}`);
        plan.errorRates[service] = rate;
      },
      crashInstance: (instanceId, crashOptions) => {
        settle();
        const at = Math.max(nowMs(), toEpochMs(crashOptions?.at ?? nowMs()));
        schedule({ at, kind: 'crash', instanceId });
        settle();
      },
      crashInstanceOnCall: (instanceId, { call: name, occurrence = 1, timing = 'before' }) => {
        hooks.push({ instanceId, call: name, occurrence, timing });
      },
      clear: () => {
        plan.outages = [];
        plan.errorRates = {};
        hooks = [];
        scheduled = scheduled.filter((s) => s.kind !== 'crash');
      },
    },

    snapshot: () => {
      settle();
      return { now: clock.now().toISOString(), ...structuredClone(state) };
    },
    downtime: () => {
      settle();
      const now = nowMs();
      return { endpoints: endpointLedger.totals(now), databases: databaseLedger.totals(now) };
    },
    timeline: () => {
      settle();
      return structuredClone(entries);
    },
    setImageBehaviour: (image, behaviour) => {
      settle();
      images[image] = { ...behaviour };
      const at = nowMs();
      record(at, 'image-behaviour-changed', image);
      refresh(at);
    },
    callCounts: () => ({ ...counts }),
  };
  for (const [endpointId, endpoint] of Object.entries(state.endpoints)) {
    for (const d of endpoint.draining) {
      schedule({
        at: toEpochMs(d.until),
        kind: 'drain-end',
        endpointId,
        containerId: d.containerId,
      });
    }
  }
  // Availability is measured from the start of this cloud: a saved state brings no downtime.
  refresh(nowMs());
  return cloud;
};
