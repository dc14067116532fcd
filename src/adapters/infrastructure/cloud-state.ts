import type {
  ContainerView,
  DatabaseView,
  EndpointView,
  HealthPath,
  InstanceView,
  VolumeView,
} from '../../catalog/infrastructure-port.js';

/** How a simulated image behaves once running: configured per image reference. */
export interface ImageBehaviour {
  /** false: the app never answers HTTP (crash loop, wrong port). Default true. */
  responds?: boolean;
  /** HTTP status per path; 200 when absent. */
  status?: Partial<Record<HealthPath, number>>;
  /** Time to exit after SIGTERM; above the stop timeout the container is SIGKILLed. */
  shutdownMs?: number;
  /** Never exits on SIGTERM: only SIGKILL stops it. */
  ignoresSigterm?: boolean;
}

/**
 * The whole simulated cloud as plain JSON data: the snapshot is a structured clone of it, so
 * tests compare states with toEqual and can store them.
 */
export interface CloudState {
  instances: Record<string, InstanceView>;
  containers: Record<string, ContainerView>;
  volumes: Record<string, VolumeView>;
  endpoints: Record<string, EndpointView>;
  databases: Record<string, DatabaseView>;
  /** bucket -> key -> body */
  objects: Record<string, Record<string, string>>;
}

export interface CloudSnapshot extends CloudState {
  /** Virtual time of the snapshot, ISO 8601. */
  now: string;
}

export const emptyCloudState = (): CloudState => ({
  instances: {},
  containers: {},
  volumes: {},
  endpoints: {},
  databases: {},
  objects: {},
});

export const behaviourOf = (
  images: Readonly<Record<string, ImageBehaviour>>,
  image: string,
): ImageBehaviour => images[image] ?? {};

/** A container that answers HTTP: what a load balancer's health check sees as healthy. */
export const containerServes = (
  state: CloudState,
  images: Readonly<Record<string, ImageBehaviour>>,
  containerId: string,
): boolean => {
  const container = state.containers[containerId];
  if (!container || container.state !== 'running') return false;
  if (state.instances[container.instanceId]?.state !== 'available') return false;
  return behaviourOf(images, container.image).responds !== false;
};

export const endpointAvailable = (
  state: CloudState,
  images: Readonly<Record<string, ImageBehaviour>>,
  endpointId: string,
): boolean =>
  (state.endpoints[endpointId]?.targets ?? []).some((id) => containerServes(state, images, id));

export const databaseAccepting = (state: CloudState, databaseId: string): boolean => {
  const database = state.databases[databaseId];
  if (!database) return false;
  const volume = state.volumes[database.volumeId];
  if (!volume || !volume.mounted || volume.attachedTo === null) return false;
  return Object.values(state.containers).some(
    (c) =>
      c.state === 'running' &&
      c.volumeId === volume.id &&
      c.instanceId === volume.attachedTo &&
      state.instances[c.instanceId]?.state === 'available',
  );
};
