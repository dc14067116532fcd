import type { InfrastructurePort, SimulatedCloud } from '../adapters/infrastructure/index.js';
import type { AppCatalogOptions } from '../catalog/app/app-options.js';
import {
  appConfigure,
  appDeploy,
  appDeprovision,
  appProvision,
  appRestart,
  appRollback,
  appScale,
  databaseBackup,
  databaseDeprovision,
  databaseProvision,
  databaseRedeploy,
  databaseResizeVolume,
  databaseRestart,
  environmentDeprovision,
  environmentProvision,
  sshSession,
} from '../catalog/index.js';
import type { OperationDefinition } from '../domain/operation-definition.js';
import { ENVIRONMENT_RESOURCE } from '../domain/stream-names.js';

// Definitions differ in their params type; the CLI treats them all alike.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDefinition = OperationDefinition<any>;

/**
 * The catalog's operations, bound to the infrastructure the CLI runs them on (the simulated
 * cloud, or the local infrastructure of `opledger demo --local`); `app` tunes the App
 * operations (drain, stop timeout, health-check interval).
 */
export const catalogOperations = (
  infra: InfrastructurePort,
  app?: AppCatalogOptions,
): AnyDefinition[] => [
  environmentProvision(infra),
  environmentDeprovision(infra),
  appProvision(infra, app),
  appDeploy(infra, app),
  appConfigure(infra, app),
  appRestart(infra, app),
  appScale(infra, app),
  appRollback(infra, app),
  appDeprovision(infra, app),
  databaseProvision(infra),
  databaseRedeploy(infra),
  databaseResizeVolume(infra),
  databaseRestart(infra),
  databaseBackup(infra),
  databaseDeprovision(infra),
  sshSession(infra),
];

/** The resource types an operation type acts on: 'app.deploy' acts on an app. */
export const resourceTypesOf = (operationType: string): string[] => {
  const [prefix = ''] = operationType.split('.');
  if (prefix === 'environment') return [ENVIRONMENT_RESOURCE];
  // A session is opened next to an app's or a database's container.
  if (prefix === 'ssh') return ['app', 'database'];
  return [prefix];
};

/**
 * Params the CLI fills in from the resource, so `--resource app:web` is enough for most
 * operations; params given with --param always win.
 */
export const paramsFromResource = (
  cloud: SimulatedCloud,
  operationType: string,
  environment: string,
  resource: { type: string; handle: string },
): Record<string, unknown> => {
  const { handle } = resource;
  if (resource.type === ENVIRONMENT_RESOURCE) return { environment };
  if (resource.type === 'app') {
    if (operationType !== 'ssh.session') return { app: handle };
    const [target] = cloud.snapshot().endpoints[handle]?.targets ?? [];
    return target ? { containerId: target } : {};
  }
  if (resource.type === 'database') {
    const state = cloud.snapshot();
    const volumeId = state.databases[handle]?.volumeId ?? `${handle}-data`;
    // After a redeploy the database runs in a container named after that operation.
    const container = Object.values(state.containers).find(
      (c) => c.volumeId === volumeId && c.state === 'running',
    );
    const containerId = container?.id ?? `${handle}-db`;
    if (operationType === 'ssh.session') return { containerId };
    return { databaseId: handle, volumeId, containerId };
  }
  return {};
};

/** The instance the database's volume is attached to, if the database exists yet. */
const databaseInstance = (cloud: SimulatedCloud, handle: string): string | undefined => {
  const state = cloud.snapshot();
  return state.volumes[state.databases[handle]?.volumeId ?? '']?.attachedTo ?? undefined;
};

/**
 * Where a database operation places the database when --param does not say: provisioning is
 * idempotent, so a second provision finds the database where it runs now (first on
 * `${handle}-host-1`); a redeploy moves it between `${handle}-host-1` and `${handle}-host-2`.
 */
export const placementDefaults = (
  cloud: SimulatedCloud,
  operationType: string,
  handle: string,
): Record<string, unknown> => {
  const at = databaseInstance(cloud, handle);
  switch (operationType) {
    case 'database.provision':
      return { instanceId: at ?? `${handle}-host-1`, image: 'postgres:15', sizeGb: 10 };
    case 'database.redeploy':
      return {
        targetInstanceId: at === `${handle}-host-2` ? `${handle}-host-1` : `${handle}-host-2`,
      };
    default:
      return {};
  }
};
