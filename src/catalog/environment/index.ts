import { z } from 'zod';
import { OpledgerError } from '../../domain/errors.js';
import type { ResourceRef } from '../../domain/events.js';
import {
  defineOperation,
  step,
  type AdmitContext,
  type OperationDefinition,
} from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
// The one import of an adapter by the catalog: the default check that an environment is empty
// replays the store into a throwaway in-memory read model (the built-in projections are the
// only place that knows a resource's lifecycle). Callers with a read model pass `resources`.
// eslint-disable-next-line no-restricted-imports
import { createInMemoryReadStore } from '../../adapters/memory/in-memory-read-store.js';
import { createProjector } from '../../projections/projector.js';
import type { ResourceRecord } from '../../projections/read-store.js';

/**
 * Environments are logical: the cloud keeps a marker object per environment in object storage,
 * which is what provision writes and deprovision deletes. Requests use resource type
 * 'environment' (ENVIRONMENT_RESOURCE), so the projections create and retire the environment.
 */
export const environmentParams = z.object({
  environment: z.string().min(1),
  bucket: z.string().min(1).default('opledger-environments'),
});
export type EnvironmentParams = z.infer<typeof environmentParams>;

const markerKey = (environment: string) => `${environment}/environment.json`;

export const environmentProvision = (
  infra: InfrastructurePort,
): OperationDefinition<EnvironmentParams> =>
  defineOperation<EnvironmentParams>({
    type: 'environment.provision',
    lifecycle: 'provision',
    params: environmentParams,
    steps: [
      step<EnvironmentParams, { created: boolean }>({
        name: 'register environment',
        retry: { maxAttempts: 3, initialIntervalMs: 1_000 },
        undoRetry: { maxAttempts: 5, initialIntervalMs: 2_000 },
        run: async ({ params, operationId, signal }) => {
          const key = markerKey(params.environment);
          const before = await infra.objectStorage.getObject(
            { bucket: params.bucket, key },
            { signal },
          );
          if (before === undefined) {
            const body = JSON.stringify({ environment: params.environment, operationId });
            await infra.objectStorage.putObject({ bucket: params.bucket, key, body }, { signal });
          }
          return { created: before === undefined };
        },
        undo: async ({ params, output }) => {
          if (!output?.created) return;
          await infra.objectStorage.deleteObject({
            bucket: params.bucket,
            key: markerKey(params.environment),
          });
        },
      }),
    ],
  });

/** The resource types an environment owns: what must be deprovisioned before it. */
export const ENVIRONMENT_OWNED_TYPES: readonly string[] = ['app', 'database'];

/**
 * `environment.deprovision` was asked while apps or databases of the environment are not
 * deprovisioned. Nothing was recorded: deprovision them, then ask again.
 */
export class EnvironmentNotEmptyError extends OpledgerError {
  constructor(
    readonly environment: string,
    /** The apps and databases still there, by type then handle. */
    readonly resources: readonly ResourceRef[],
  ) {
    const list = resources.map((r) => `${r.type} ${r.handle}`).join(', ');
    super(
      'ENVIRONMENT_NOT_EMPTY',
      `Environment ${environment} still has ${resources.length === 1 ? 'a resource' : `${resources.length} resources`} ` +
        `not deprovisioned: ${list}. Deprovision ${resources.length === 1 ? 'it' : 'them'} first ` +
        `(app.deprovision, database.deprovision), then deprovision the environment.`,
    );
  }
}

/** An app or a database of an environment and where its lifecycle stands. */
export type EnvironmentResource = Pick<ResourceRecord, 'type' | 'handle' | 'status'>;

export interface EnvironmentCatalogOptions {
  /**
   * The resources recorded in an environment, for the check that it has no app or database
   * left: e.g. `(env) => reads.resources(env)` of a read model brought up to date first.
   * By default they are read from the engine's event store, replayed into a throwaway read
   * model: always current, and as long as the store is (a full read per deprovision).
   */
  resources?: (environment: string) => Promise<readonly EnvironmentResource[]>;
}

/**
 * The resources of the environment's current lifetime as the engine's store records them: the
 * store replayed through the built-in projections into an in-memory read model.
 */
const recordedResources = async ({
  environment,
  store,
  upcasters,
}: Pick<AdmitContext<unknown>, 'environment' | 'store' | 'upcasters'>) => {
  const readStore = createInMemoryReadStore();
  await createProjector({ store, readStore, upcasters }).catchUp();
  return readStore.resources(environment);
};

/**
 * Deletes an environment. Refused with `EnvironmentNotEmptyError`, before anything is recorded,
 * while any app or database of it is not deprovisioned (provisioning, running, or its
 * deprovision not yet succeeded): the PaaS does the same, and a name used again would otherwise
 * start with the old environment's apps.
 *
 * @example
 * ```ts
 * const engine = createEngine({ store, operations: [environmentDeprovision(cloud)] });
 * await engine.start({
 *   type: 'environment.deprovision',
 *   environment: 'staging',
 *   resource: { type: 'environment', handle: 'staging' },
 *   user: 'ada@example.com',
 *   params: { environment: 'staging' },
 * }); // rejects with EnvironmentNotEmptyError while staging has an app
 * ```
 */
export const environmentDeprovision = (
  infra: InfrastructurePort,
  options: EnvironmentCatalogOptions = {},
): OperationDefinition<EnvironmentParams> =>
  defineOperation<EnvironmentParams>({
    type: 'environment.deprovision',
    lifecycle: 'deprovision',
    params: environmentParams,
    admit: async (request) => {
      const resources = await (options.resources
        ? options.resources(request.environment)
        : recordedResources(request));
      const left = resources
        .filter((r) => ENVIRONMENT_OWNED_TYPES.includes(r.type) && r.status !== 'deprovisioned')
        .map((r) => ({ type: r.type, handle: r.handle }))
        .sort((a, b) =>
          a.type === b.type ? a.handle.localeCompare(b.handle) : a.type.localeCompare(b.type),
        );
      if (left.length > 0) throw new EnvironmentNotEmptyError(request.environment, left);
    },
    steps: [
      step<EnvironmentParams, null>({
        name: 'delete environment',
        kind: 'irreversible',
        retry: { maxAttempts: 3, initialIntervalMs: 1_000 },
        run: async ({ params, signal }) => {
          await infra.objectStorage.deleteObject(
            { bucket: params.bucket, key: markerKey(params.environment) },
            { signal },
          );
          return null;
        },
      }),
    ],
  });
