import {
  chmod,
  chown,
  mkdir,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import {
  CloudRequestError,
  CloudServiceError,
  type CloudRequestCode,
} from '../../catalog/cloud-errors.js';
import {
  DEFAULT_DRAIN_MS,
  DEFAULT_STOP_TIMEOUT_MS,
  type CallOptions,
  type CloudCall,
  type ContainerSpec,
  type ContainerView,
  type DatabaseView,
  type EndpointView,
  type HealthCheckResult,
  type InfrastructurePort,
  type InstanceView,
  type RegistryName,
  type StopResult,
  type VolumeView,
  newContainerView,
} from '../../catalog/infrastructure-port.js';
import { OpledgerError } from '../../domain/errors.js';
import { freePort, runAs, startProcess, type ContainerProcess } from './child-process.js';
import { startHttpProxy, type HttpProxy, type ProxyStats } from './http-proxy.js';
import { copyImage, exists, folderName, readManifest } from './local-images.js';
import { probePostgres } from './postgres-probe.js';
import { makeFolder } from '../make-folder.js';

export interface LocalInfrastructureOptions {
  /** The folder that holds everything: instances, detached volumes, object storage. */
  root: string;
  /** The registry folders images are pulled from; default `<root>/registries/<name>`. */
  registries?: Partial<Record<RegistryName, string>>;
  /** Time a health check waits for an answer. Default 2 s. */
  healthCheckTimeoutMs?: number;
  /** Time a database's server has to accept connections once started. Default 60 s. */
  databaseStartTimeoutMs?: number;
}

export interface LocalInfrastructureFaults {
  /**
   * The instance dies: every container process on it is killed with SIGKILL, its mounts are
   * gone, and calls on it fail with INSTANCE_CRASHED until it is ensured again (rebooted).
   */
  crashInstance(instanceId: string): Promise<void>;
}

/** The infrastructure port on this machine: folders, child processes, proxies on loopback. */
export interface LocalInfrastructure extends InfrastructurePort {
  readonly root: string;
  readonly registries: Record<RegistryName, string>;
  readonly faults: LocalInfrastructureFaults;
  /** The URL of an endpoint's proxy (`http://127.0.0.1:PORT`), once created. */
  endpointUrl(endpointId: string): string | undefined;
  /**
   * What an endpoint's proxy had to hide: requests it retried on another target after a
   * connection to one failed. A zero-downtime operation in the right order needs none.
   */
  endpointStats(endpointId: string): ProxyStats | undefined;
  /** A connection string for a database's server (user postgres, trust auth, loopback). */
  databaseUrl(databaseId: string): string | undefined;
  /** The OS process of a running container (to watch it, or to kill it in a test). */
  processOf(containerId: string): { pid: number; port: number } | undefined;
  /** Stops every process (SIGKILL after a short grace) and closes every proxy. Idempotent. */
  close(): Promise<void>;
}

interface Instance {
  id: string;
  size: string;
  state: 'available' | 'crashed';
}

interface Container {
  view: ContainerView;
  port: number;
  stopSignal: NodeJS.Signals;
  process: ContainerProcess | undefined;
}

interface Volume {
  id: string;
  sizeGb: number;
  attachedTo: string | null;
  mountPath: string | null;
}

interface Endpoint {
  id: string;
  proxy: HttpProxy;
  targets: string[];
  draining: { containerId: string; until: string }[];
}

const DEFAULT_INSTANCE_SIZE = 'standard';
const CLOSE_GRACE_MS = 2_000;

const refuse = (call: CloudCall, code: CloudRequestCode, problem: string): never => {
  throw new CloudRequestError(call, code, problem);
};

const closedError = (call: CloudCall) =>
  new OpledgerError(
    'INFRASTRUCTURE_CLOSED',
    `${call} was called after close(): the local infrastructure has stopped its processes; create a new one`,
  );

const within = async (promise: Promise<unknown>, ms: number): Promise<boolean> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const done = await Promise.race([promise.then(() => true as const), timeout]);
  clearTimeout(timer);
  return done;
};

const httpStatus = (port: number, path: string, timeoutMs: number, signal?: AbortSignal) =>
  new Promise<number | null>((resolveStatus) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs, agent: false, signal },
      (res) => {
        res.resume();
        res.on('end', () => resolveStatus(res.statusCode ?? null));
        res.on('error', () => resolveStatus(res.statusCode ?? null));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveStatus(null));
    req.end();
  });

/**
 * Creates the local infrastructure. Its state (which containers, volumes, endpoints exist)
 * lives in this process, next to the processes it started: closing it, or the process ending,
 * stops them all. Folders stay under `root` for inspection until the caller removes it.
 */
export const createLocalInfrastructure = async (
  options: LocalInfrastructureOptions,
): Promise<LocalInfrastructure> => {
  const root = resolve(options.root);
  makeFolder(root);
  // Servers that run as another user (PostgreSQL) must be able to reach their folders.
  if (process.getuid?.() === 0) await chmod(root, 0o755);
  const registries: Record<RegistryName, string> = {
    'docker-hub': resolve(
      options.registries?.['docker-hub'] ?? join(root, 'registries/docker-hub'),
    ),
    quay: resolve(options.registries?.quay ?? join(root, 'registries/quay')),
  };
  const healthTimeoutMs = options.healthCheckTimeoutMs ?? 2_000;
  const databaseStartTimeoutMs = options.databaseStartTimeoutMs ?? 60_000;

  const instances = new Map<string, Instance>();
  const containers = new Map<string, Container>();
  const volumes = new Map<string, Volume>();
  const endpoints = new Map<string, Endpoint>();
  const startingEndpoints = new Map<string, Promise<Endpoint>>();
  const starting = new Map<string, Promise<ContainerView>>();
  const databases = new Map<string, DatabaseView & { port: number }>();
  let closed = false;

  // Any id is a valid folder name once encoded: ids are the catalog's (app names, etc.).
  const instanceDir = (id: string) => join(root, 'instances', folderName(id));
  const detachedVolumeDir = (id: string) => join(root, 'volumes', folderName(id));
  const volumeDir = (v: Volume) =>
    v.attachedTo === null
      ? detachedVolumeDir(v.id)
      : join(instanceDir(v.attachedTo), 'volumes', folderName(v.id));
  const linkAt = (instanceId: string, mountPath: string) =>
    join(instanceDir(instanceId), 'mnt', mountPath.replace(/^\/+/, ''));
  const mountLink = (v: Volume) => linkAt(v.attachedTo as string, v.mountPath ?? '');
  const objectFile = (bucket: string, key: string) =>
    join(root, 'buckets', folderName(bucket), folderName(key));

  /** Every call: refused once closed (nothing may start again), and when already aborted. */
  const guard = (call: CloudCall, o?: CallOptions) => {
    if (closed) throw closedError(call);
    if (o?.signal?.aborted) throw o.signal.reason;
  };
  const logFileOf = (c: { id: string; instanceId: string }) =>
    join(instanceDir(c.instanceId), 'containers', `${folderName(c.id)}.log`);
  const requireInstance = (call: CloudCall, id: string): Instance =>
    instances.get(id) ?? refuse(call, 'NOT_FOUND', `instance ${id} does not exist`);
  const requireAvailable = (call: CloudCall, id: string): Instance => {
    const instance = requireInstance(call, id);
    if (instance.state === 'crashed') {
      throw new CloudServiceError('compute', call, 'INSTANCE_CRASHED', id);
    }
    return instance;
  };
  const requireVolume = (call: CloudCall, id: string): Volume =>
    volumes.get(id) ?? refuse(call, 'NOT_FOUND', `volume ${id} does not exist`);

  const imagesOn = async (instanceId: string): Promise<string[]> => {
    const names = await readdir(join(instanceDir(instanceId), 'images')).catch(() => []);
    return names
      .filter((n) => !n.includes('.pulling-'))
      .map((n) => decodeURIComponent(n))
      .sort();
  };
  const instanceView = async (i: Instance): Promise<InstanceView> => ({
    id: i.id,
    size: i.size,
    state: i.state,
    images: await imagesOn(i.id),
  });
  const containerView = (c: Container): ContainerView => ({
    ...structuredClone(c.view),
    state: c.process?.isRunning() ? 'running' : 'exited',
  });
  const isRunning = (c: Container | undefined) => c?.process?.isRunning() === true;
  const volumeView = (v: Volume): VolumeView => ({
    id: v.id,
    sizeGb: v.sizeGb,
    attachedTo: v.attachedTo,
    mounted: v.mountPath !== null,
    mountPath: v.mountPath,
  });
  const endpointView = (e: Endpoint): EndpointView => ({
    id: e.id,
    targets: [...e.targets],
    draining: e.draining.map((d) => ({ ...d })),
  });

  /** SIGTERM (or the image's stop signal), then SIGKILL once the timeout is over. */
  const stopProcess = async (c: Container, stopTimeoutMs: number): Promise<StopResult> => {
    const proc = c.process;
    if (!proc?.isRunning()) return { stoppedBy: 'already-stopped', elapsedMs: 0 };
    const started = Date.now();
    proc.kill(c.stopSignal);
    if (await within(proc.exited, stopTimeoutMs)) {
      return { stoppedBy: 'SIGTERM', elapsedMs: Date.now() - started };
    }
    proc.kill('SIGKILL');
    await proc.exited;
    return { stoppedBy: 'SIGKILL', elapsedMs: Date.now() - started };
  };

  /**
   * A database's container is started when its server accepts sessions, as with a managed
   * database: the operation that starts it ends when the database serves again, and a server
   * that cannot start (exits, or never answers) fails the call instead of passing for running.
   */
  const untilAccepting = async (
    database: { id: string; port: number },
    c: Container,
    signal?: AbortSignal,
  ) => {
    const deadline = Date.now() + databaseStartTimeoutMs;
    while (!(await probePostgres(database.port))) {
      if (signal?.aborted) throw signal.reason;
      if (!isRunning(c)) {
        throw new OpledgerError(
          'DATABASE_START_FAILED',
          `the server of database ${database.id} exited on start; see ${logFileOf(c.view)}`,
        );
      }
      if (Date.now() > deadline) {
        throw new OpledgerError(
          'DATABASE_START_FAILED',
          `database ${database.id} did not accept connections within ${databaseStartTimeoutMs} ms of its start; see ${logFileOf(c.view)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  /**
   * A container started with a command of its own is a one-off (a before_release migration):
   * like `docker run` without `-d`, the start returns once the command has run, and fails when
   * the command does. Aborting stops the command.
   */
  const untilDone = async (c: Container, signal?: AbortSignal) => {
    const proc = c.process as ContainerProcess;
    const onAbort = () => proc.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const { code, signal: killedBy } = await proc.exited;
      if (signal?.aborted) throw signal.reason;
      if (code !== 0) {
        throw new OpledgerError(
          'COMMAND_FAILED',
          `'${c.view.command.join(' ')}' in container ${c.view.id} ended with ${killedBy ?? `status ${code}`}; its output is in ${logFileOf(c.view)}.`,
        );
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  };

  const start = async (spec: ContainerSpec, o?: CallOptions): Promise<ContainerView> => {
    requireAvailable('startContainer', spec.instanceId);
    const existing = containers.get(spec.containerId);
    if (
      existing &&
      (existing.view.instanceId !== spec.instanceId || existing.view.image !== spec.image)
    ) {
      refuse(
        'startContainer',
        'CONFLICT',
        `container ${spec.containerId} already exists with image ${existing.view.image} on instance ${existing.view.instanceId}`,
      );
    }
    if (existing && isRunning(existing)) return containerView(existing);
    const imageDir = join(instanceDir(spec.instanceId), 'images', folderName(spec.image));
    if (!(await exists(imageDir))) {
      refuse(
        'startContainer',
        'IMAGE_NOT_PULLED',
        `image ${spec.image} is not on instance ${spec.instanceId}; pull it first`,
      );
    }
    const volumeId = existing?.view.volumeId ?? spec.volumeId ?? null;
    let volumePath: string | undefined;
    if (volumeId !== null) {
      const volume = requireVolume('startContainer', volumeId);
      if (volume.attachedTo !== spec.instanceId) {
        refuse(
          'startContainer',
          'VOLUME_NOT_ATTACHED',
          `volume ${volumeId} is not attached to instance ${spec.instanceId}`,
        );
      }
      if (volume.mountPath === null) {
        refuse('startContainer', 'VOLUME_NOT_MOUNTED', `volume ${volumeId} is not mounted`);
      }
      volumePath = await realpath(mountLink(volume));
    }
    const manifest = await readManifest(imageDir);
    const database = [...databases.values()].find((d) => d.volumeId === volumeId);
    // A database keeps its port wherever it runs, so its clients only ever reconnect.
    const port = database?.port ?? existing?.port ?? (await freePort());
    const container: Container = existing ?? {
      view: newContainerView(spec, volumeId),
      port,
      stopSignal: manifest.stopSignal,
      process: undefined,
    };
    const user = runAs(manifest.user);
    if (volumePath !== undefined && user) await chown(volumePath, user.uid, user.gid);
    const logFile = logFileOf(container.view);
    container.process = await startProcess({
      command: container.view.command.length > 0 ? container.view.command : manifest.command,
      cwd: imageDir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...manifest.env,
        ...container.view.env,
        PORT: String(port),
        OPLEDGER_CONTAINER_ID: spec.containerId,
        ...(volumePath !== undefined ? { VOLUME_PATH: volumePath } : {}),
      },
      logFile,
      user: manifest.user,
    });
    containers.set(spec.containerId, container);
    try {
      if (database) await untilAccepting(database, container, o?.signal);
      if (container.view.command.length > 0) await untilDone(container, o?.signal);
      if (closed) throw closedError('startContainer');
      if (o?.signal?.aborted) throw o.signal.reason;
    } catch (error) {
      // A start that fails or is aborted has no effect: the process is stopped, and a
      // container this call created is forgotten, so a retry starts it afresh.
      await stopProcess(container, CLOSE_GRACE_MS);
      if (!existing && containers.get(spec.containerId) === container) {
        containers.delete(spec.containerId);
      }
      throw error;
    }
    return containerView(container);
  };

  const crash = async (instanceId: string) => {
    const instance = instances.get(instanceId);
    if (!instance || instance.state === 'crashed') return;
    instance.state = 'crashed';
    const dying = [...containers.values()].filter((c) => c.view.instanceId === instanceId);
    for (const c of dying) c.process?.kill('SIGKILL');
    await Promise.all(dying.map((c) => c.process?.exited));
    // Mounts do not survive a crash; the attachment does.
    for (const v of volumes.values()) {
      if (v.attachedTo !== instanceId || v.mountPath === null) continue;
      await rm(mountLink(v), { force: true });
      v.mountPath = null;
    }
  };

  const infra: LocalInfrastructure = {
    root,
    registries,
    faults: { crashInstance: crash },
    endpointUrl: (id) => endpoints.get(id)?.proxy.url,
    endpointStats: (id) => endpoints.get(id)?.proxy.stats(),
    databaseUrl: (id) => {
      const db = databases.get(id);
      return db ? `postgres://postgres@127.0.0.1:${db.port}/postgres` : undefined;
    },
    processOf: (id) => {
      const c = containers.get(id);
      return c?.process?.isRunning() ? { pid: c.process.pid, port: c.port } : undefined;
    },

    compute: {
      ensureInstance: async ({ instanceId, size }, o) => {
        guard('ensureInstance', o);
        for (const sub of ['images', 'containers', 'volumes', 'mnt']) {
          await mkdir(join(instanceDir(instanceId), sub), { recursive: true });
        }
        const existing = instances.get(instanceId);
        if (existing) existing.state = 'available';
        else
          instances.set(instanceId, {
            id: instanceId,
            size: size ?? DEFAULT_INSTANCE_SIZE,
            state: 'available',
          });
        return instanceView(instances.get(instanceId) as Instance);
      },
      terminateInstance: async (instanceId, o) => {
        guard('terminateInstance', o);
        if (!instances.has(instanceId)) return;
        for (const c of [...containers.values()]) {
          if (c.view.instanceId !== instanceId) continue;
          c.process?.kill('SIGKILL');
          await c.process?.exited;
          containers.delete(c.view.id);
        }
        // Data volumes outlive the instance, as on real clouds: never lose a database.
        for (const v of volumes.values()) {
          if (v.attachedTo !== instanceId) continue;
          // Moved out before the state says so: a failure here leaves the volume attached, and
          // a retry moves it again, instead of deleting the data with the instance's folder.
          if (v.mountPath !== null) await rm(mountLink(v), { force: true });
          await rename(volumeDir(v), detachedVolumeDir(v.id));
          v.attachedTo = null;
          v.mountPath = null;
        }
        instances.delete(instanceId);
        await rm(instanceDir(instanceId), { recursive: true, force: true });
      },
      describeInstance: async (instanceId, o) => {
        guard('describeInstance', o);
        const instance = instances.get(instanceId);
        return instance ? instanceView(instance) : undefined;
      },
    },

    containers: {
      pullImage: async ({ instanceId, image, registry }, o) => {
        guard('pullImage', o);
        requireAvailable('pullImage', instanceId);
        const target = join(instanceDir(instanceId), 'images', folderName(image));
        if (await exists(target)) return;
        const registryDir = registries[registry];
        if (!(await exists(registryDir))) {
          // A registry that cannot be reached is an outage of that service: fail over.
          throw new CloudServiceError(`registry:${registry}`, 'pullImage', 'OUTAGE');
        }
        const source = join(registryDir, folderName(image));
        if (!(await exists(source))) {
          refuse('pullImage', 'NOT_FOUND', `image ${image} is not in registry ${registry}`);
        }
        await copyImage(source, target);
      },
      startContainer: async (spec, o) => {
        guard('startContainer', o);
        // One start at a time per container: two at once would start two processes for one id.
        const previous = starting.get(spec.containerId) ?? Promise.resolve();
        const attempt = previous.catch(() => undefined).then(() => start(spec, o));
        starting.set(spec.containerId, attempt);
        try {
          return await attempt;
        } finally {
          if (starting.get(spec.containerId) === attempt) starting.delete(spec.containerId);
        }
      },
      checkHealth: async ({ containerId, strict = false }, o): Promise<HealthCheckResult> => {
        guard('checkHealth', o);
        const path = strict ? '/healthcheck' : '/';
        const c = containers.get(containerId);
        if (!c || !isRunning(c)) return { healthy: false, path, status: null };
        const status = await httpStatus(c.port, path, healthTimeoutMs, o?.signal);
        guard('checkHealth', o);
        return { healthy: status !== null && (!strict || status === 200), path, status };
      },
      stopContainer: async ({ containerId, stopTimeoutMs = DEFAULT_STOP_TIMEOUT_MS }, o) => {
        guard('stopContainer', o);
        const c = containers.get(containerId);
        if (!c || !isRunning(c)) return { stoppedBy: 'already-stopped', elapsedMs: 0 };
        requireAvailable('stopContainer', c.view.instanceId);
        return stopProcess(c, stopTimeoutMs);
      },
      removeContainer: async (containerId, o) => {
        guard('removeContainer', o);
        const c = containers.get(containerId);
        if (!c) return;
        if (isRunning(c)) {
          refuse(
            'removeContainer',
            'CONTAINER_RUNNING',
            `container ${containerId} is running; stop it first`,
          );
        }
        requireAvailable('removeContainer', c.view.instanceId);
        containers.delete(containerId);
      },
      describeContainer: async (containerId, o) => {
        guard('describeContainer', o);
        const c = containers.get(containerId);
        return c ? containerView(c) : undefined;
      },
    },

    volumes: {
      createVolume: async ({ volumeId, sizeGb }, o) => {
        guard('createVolume', o);
        if (!Number.isInteger(sizeGb) || sizeGb <= 0) {
          refuse(
            'createVolume',
            'INVALID_REQUEST',
            `size must be a positive integer of GB, got ${sizeGb}`,
          );
        }
        const existing = volumes.get(volumeId);
        if (existing && existing.sizeGb !== sizeGb) {
          refuse(
            'createVolume',
            'CONFLICT',
            `volume ${volumeId} already exists with ${existing.sizeGb} GB`,
          );
        }
        if (!existing) {
          await mkdir(detachedVolumeDir(volumeId), { recursive: true });
          volumes.set(volumeId, { id: volumeId, sizeGb, attachedTo: null, mountPath: null });
        }
        return volumeView(volumes.get(volumeId) as Volume);
      },
      attachVolume: async ({ volumeId, instanceId }, o) => {
        guard('attachVolume', o);
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
        const from = volumeDir(volume);
        // The data moves into the instance's folder: only that instance's containers reach it.
        await rename(from, join(instanceDir(instanceId), 'volumes', folderName(volumeId)));
        volume.attachedTo = instanceId;
      },
      mountVolume: async ({ volumeId, mountPath }, o) => {
        guard('mountVolume', o);
        const volume = requireVolume('mountVolume', volumeId);
        if (volume.attachedTo === null) {
          refuse(
            'mountVolume',
            'VOLUME_NOT_ATTACHED',
            `volume ${volumeId} is not attached; attach it first`,
          );
        }
        if (volume.mountPath !== null) return;
        requireAvailable('mountVolume', volume.attachedTo as string);
        const path = mountPath ?? `/mnt/${volumeId}`;
        const parts = path.split('/').filter((part) => part !== '');
        if (
          !path.startsWith('/') ||
          parts.length === 0 ||
          parts.some((p) => p === '.' || p === '..')
        ) {
          refuse(
            'mountVolume',
            'INVALID_REQUEST',
            `mount path ${path} must be an absolute path below / without '.' or '..'`,
          );
        }
        const link = linkAt(volume.attachedTo as string, path);
        await mkdir(dirname(link), { recursive: true });
        await rm(link, { force: true });
        await symlink(volumeDir(volume), link);
        // Recorded once the link exists: a failed mount leaves the volume unmounted.
        volume.mountPath = path;
      },
      unmountVolume: async (volumeId, o) => {
        guard('unmountVolume', o);
        const volume = volumes.get(volumeId);
        if (!volume || volume.mountPath === null) return;
        const user = [...containers.values()].find(
          (c) => isRunning(c) && c.view.volumeId === volumeId,
        );
        if (user) {
          refuse(
            'unmountVolume',
            'VOLUME_BUSY',
            `container ${user.view.id} is using volume ${volumeId}; stop it first`,
          );
        }
        requireAvailable('unmountVolume', volume.attachedTo as string);
        await rm(mountLink(volume), { force: true });
        volume.mountPath = null;
      },
      detachVolume: async (volumeId, o) => {
        guard('detachVolume', o);
        const volume = volumes.get(volumeId);
        if (!volume || volume.attachedTo === null) return;
        if (volume.mountPath !== null) {
          refuse(
            'detachVolume',
            'VOLUME_MOUNTED',
            `volume ${volumeId} is mounted; unmount it first`,
          );
        }
        const from = volumeDir(volume);
        await rename(from, detachedVolumeDir(volumeId));
        volume.attachedTo = null;
      },
      resizeVolume: async ({ volumeId, sizeGb }, o) => {
        guard('resizeVolume', o);
        const volume = requireVolume('resizeVolume', volumeId);
        if (!Number.isInteger(sizeGb) || sizeGb < volume.sizeGb) {
          refuse(
            'resizeVolume',
            'INVALID_REQUEST',
            `volume ${volumeId} can only grow: it has ${volume.sizeGb} GB, asked ${sizeGb}`,
          );
        }
        // A folder has no size of its own: the size is recorded, as a quota would be.
        volume.sizeGb = sizeGb;
      },
      deleteVolume: async (volumeId, o) => {
        guard('deleteVolume', o);
        const volume = volumes.get(volumeId);
        if (!volume) return;
        if (volume.attachedTo !== null) {
          refuse(
            'deleteVolume',
            'VOLUME_IN_USE',
            `volume ${volumeId} is attached to ${volume.attachedTo}; detach it first`,
          );
        }
        volumes.delete(volumeId);
        await rm(detachedVolumeDir(volumeId), { recursive: true, force: true });
      },
      describeVolume: async (volumeId, o) => {
        guard('describeVolume', o);
        const volume = volumes.get(volumeId);
        return volume ? volumeView(volume) : undefined;
      },
    },

    loadBalancer: {
      createEndpoint: async ({ endpointId }, o) => {
        guard('createEndpoint', o);
        const existing = endpoints.get(endpointId);
        if (existing) return endpointView(existing);
        // Two calls at once for one endpoint share one proxy instead of leaking the first.
        let starting = startingEndpoints.get(endpointId);
        if (!starting) {
          starting = startHttpProxy().then(async (proxy) => {
            if (closed) {
              await proxy.close();
              throw closedError('createEndpoint');
            }
            const endpoint: Endpoint = { id: endpointId, proxy, targets: [], draining: [] };
            endpoints.set(endpointId, endpoint);
            return endpoint;
          });
          startingEndpoints.set(endpointId, starting);
          void starting.finally(() => startingEndpoints.delete(endpointId)).catch(() => undefined);
        }
        return endpointView(await starting);
      },
      registerTarget: async ({ endpointId, containerId }, o) => {
        guard('registerTarget', o);
        const endpoint =
          endpoints.get(endpointId) ??
          refuse('registerTarget', 'NOT_FOUND', `endpoint ${endpointId} does not exist`);
        const c =
          containers.get(containerId) ??
          refuse('registerTarget', 'NOT_FOUND', `container ${containerId} does not exist`);
        // Always told to the proxy: a container started again may listen on another port.
        endpoint.proxy.register({ id: containerId, port: c.port });
        if (endpoint.targets.includes(containerId)) return;
        endpoint.draining = endpoint.draining.filter((d) => d.containerId !== containerId);
        endpoint.targets = [...endpoint.targets, containerId];
      },
      deregisterTarget: async ({ endpointId, containerId, drainMs = DEFAULT_DRAIN_MS }, o) => {
        guard('deregisterTarget', o);
        const endpoint = endpoints.get(endpointId);
        if (!endpoint) return;
        const wasTarget = endpoint.targets.includes(containerId);
        const wasDraining = endpoint.draining.some((d) => d.containerId === containerId);
        if (!wasTarget && !wasDraining) return;
        if (wasTarget) {
          endpoint.targets = endpoint.targets.filter((t) => t !== containerId);
          endpoint.draining = [
            ...endpoint.draining,
            { containerId, until: new Date(Date.now() + drainMs).toISOString() },
          ];
        }
        // The proxy stops routing to it at once and resolves when its requests are done.
        const drained = endpoint.proxy.deregister(containerId, drainMs);
        // Aborting stops the wait, not the drain: the target is out of rotation either way.
        const signal = o?.signal;
        let onAbort: (() => void) | undefined;
        const aborted = new Promise<void>((_, reject) => {
          onAbort = () => reject(signal?.reason);
          signal?.addEventListener('abort', onAbort, { once: true });
        });
        try {
          await Promise.race([drained, aborted]);
        } finally {
          if (onAbort) signal?.removeEventListener('abort', onAbort);
          // The proxy goes on draining; once it is done the entry must not stay behind.
          void drained.then(() => {
            endpoint.draining = endpoint.draining.filter((d) => d.containerId !== containerId);
          });
        }
        endpoint.draining = endpoint.draining.filter((d) => d.containerId !== containerId);
      },
      deleteEndpoint: async (endpointId, o) => {
        guard('deleteEndpoint', o);
        const endpoint = endpoints.get(endpointId);
        if (!endpoint) return;
        endpoints.delete(endpointId);
        await endpoint.proxy.close();
      },
      describeEndpoint: async (endpointId, o) => {
        guard('describeEndpoint', o);
        const endpoint = endpoints.get(endpointId);
        return endpoint ? endpointView(endpoint) : undefined;
      },
    },

    objectStorage: {
      putObject: async ({ bucket, key, body }, o) => {
        guard('putObject', o);
        const file = objectFile(bucket, key);
        await mkdir(dirname(file), { recursive: true });
        // Written whole or not at all: a reader never sees half an object.
        const staging = `${file}.writing-${process.pid}-${randomUUID()}`;
        await writeFile(staging, body);
        await rename(staging, file);
      },
      getObject: async ({ bucket, key }, o) => {
        guard('getObject', o);
        return readFile(objectFile(bucket, key), 'utf8').catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return undefined;
          throw error;
        });
      },
      deleteObject: async ({ bucket, key }, o) => {
        guard('deleteObject', o);
        await rm(objectFile(bucket, key), { force: true });
      },
    },

    databases: {
      createDatabase: async ({ databaseId, volumeId }, o) => {
        guard('createDatabase', o);
        requireVolume('createDatabase', volumeId);
        const existing = databases.get(databaseId);
        if (existing && existing.volumeId !== volumeId) {
          refuse(
            'createDatabase',
            'CONFLICT',
            `database ${databaseId} already uses volume ${existing.volumeId}`,
          );
        }
        if (!existing)
          databases.set(databaseId, { id: databaseId, volumeId, port: await freePort() });
        return { id: databaseId, volumeId };
      },
      deleteDatabase: async (databaseId, o) => {
        guard('deleteDatabase', o);
        databases.delete(databaseId);
      },
      acceptsConnections: async (databaseId, o) => {
        guard('acceptsConnections', o);
        const db = databases.get(databaseId);
        return db ? probePostgres(db.port) : false;
      },
    },

    close: async () => {
      if (closed) return;
      closed = true;
      const running = [...containers.values()].filter(isRunning);
      await Promise.all(running.map((c) => stopProcess(c, CLOSE_GRACE_MS)));
      await Promise.all([...endpoints.values()].map((e) => e.proxy.close()));
      endpoints.clear();
    },
  };
  return infra;
};
