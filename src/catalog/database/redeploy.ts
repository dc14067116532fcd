import { z } from 'zod';
import {
  defineOperation,
  step,
  type OperationDefinition,
} from '../../domain/operation-definition.js';
import type { InfrastructurePort, RegistryName } from '../infrastructure-port.js';
import { PreconditionFailedError } from '../precondition-error.js';
import {
  attachVolumeTo,
  databaseRef,
  detachOldVolume,
  inspectPlacement,
  mountVolume,
  newContainerId,
  placementOf,
  PRECONDITION_RETRY,
  startContainerOn,
  stopOldContainer,
  UNDO_RETRY,
  unmountOldVolume,
} from './placement.js';

export const databaseRedeployParams = z.object({
  ...databaseRef,
  /** The instance the database moves to; launched when it does not exist. */
  targetInstanceId: z.string().min(1),
  targetInstanceSize: z.string().min(1).optional(),
  /** The image of the new container; the current one when omitted. */
  image: z.string().min(1).optional(),
});
export type DatabaseRedeployParams = z.infer<typeof databaseRedeployParams>;

export interface DatabaseRedeployOptions {
  /** Registries tried in turn to pre-pull the image. Default Docker Hub, then Quay.io. */
  registries?: readonly RegistryName[];
}

/**
 * Moves a database to another instance with minimal downtime. Preconditions first, while the old
 * container still serves: the target instance is available and has the image. Only then the
 * downtime window: stop, unmount, detach, attach, mount, start. Any failure rolls the database
 * back onto its old instance, serving.
 */
export const databaseRedeploy = (
  infra: InfrastructurePort,
  options: DatabaseRedeployOptions = {},
): OperationDefinition<DatabaseRedeployParams> => {
  const inspect = inspectPlacement<DatabaseRedeployParams>(infra);
  /** The image of the new container: the one asked for, or the one the database runs. */
  const imageOf = (params: DatabaseRedeployParams, outputs: Readonly<Record<string, unknown>>) =>
    params.image ?? placementOf(outputs, inspect).image;
  return defineOperation<DatabaseRedeployParams>({
    type: 'database.redeploy',
    params: databaseRedeployParams,
    steps: [
      inspect,
      step<DatabaseRedeployParams, { launched: boolean }>({
        name: 'ensure target instance',
        retry: PRECONDITION_RETRY,
        undoRetry: UNDO_RETRY,
        run: async ({ params, outputs, signal, log }) => {
          if (params.targetInstanceId === placementOf(outputs, inspect).instanceId) {
            throw new PreconditionFailedError(
              `database ${params.databaseId} already runs on instance ${params.targetInstanceId}`,
            );
          }
          const before = await infra.compute.describeInstance(params.targetInstanceId, { signal });
          await infra.compute.ensureInstance(
            {
              instanceId: params.targetInstanceId,
              ...(params.targetInstanceSize ? { size: params.targetInstanceSize } : {}),
            },
            { signal },
          );
          log(`Instance ${params.targetInstanceId} is available.`);
          return { launched: before === undefined };
        },
        undo: async ({ params, output, operationId, log }) => {
          // Only an instance this operation launched is terminated; after a crash of the engine
          // (unknown outcome) it is left in place rather than risk terminating someone else's.
          if (output?.launched) {
            await infra.compute.terminateInstance(params.targetInstanceId);
            log(`Terminated instance ${params.targetInstanceId}, launched for this redeploy.`);
            return;
          }
          // On a target that stays, the container this redeploy started there must go too: the
          // undo of 'start new container' only stops it, and a rollback that reported success
          // left it behind, exited and naming the database's volume. Removed here, once the
          // database serves again, so the removal adds no downtime. Its id is deterministic, so
          // this also holds when an outcome is unknown.
          const containerId = newContainerId(params.databaseId, operationId);
          if (!(await infra.containers.describeContainer(containerId))) return;
          await infra.containers.stopContainer({ containerId });
          await infra.containers.removeContainer(containerId);
          log(`Removed container ${containerId} from instance ${params.targetInstanceId}.`);
        },
      }),
      step<DatabaseRedeployParams, { image: string; registry: string | undefined }>({
        name: 'pre-pull image',
        // Pulling fills the instance's image cache and changes nothing that serves anything.
        kind: 'no_side_effects',
        alternatives: options.registries ?? ['docker-hub', 'quay'],
        retry: { ...PRECONDITION_RETRY, maxAttempts: 2 },
        run: async ({ params, outputs, provider, signal, log }) => {
          const image = imageOf(params, outputs);
          const registry = (provider ?? 'docker-hub') as RegistryName;
          await infra.containers.pullImage(
            { instanceId: params.targetInstanceId, image, registry },
            { signal },
          );
          log(`Pulled ${image} from ${registry} onto instance ${params.targetInstanceId}.`);
          return { image, registry };
        },
      }),
      stopOldContainer(infra),
      unmountOldVolume(infra),
      detachOldVolume(infra),
      attachVolumeTo<DatabaseRedeployParams>(infra, (params) => params.targetInstanceId),
      mountVolume(infra, inspect),
      startContainerOn<DatabaseRedeployParams>(
        infra,
        'start new container',
        (params, outputs, operationId) => ({
          containerId: newContainerId(params.databaseId, operationId),
          instanceId: params.targetInstanceId,
          image: imageOf(params, outputs),
        }),
      ),
    ],
  });
};
