import { z } from 'zod';
import {
  defineOperation,
  step,
  type OperationDefinition,
} from '../../domain/operation-definition.js';
import type { InfrastructurePort, RegistryName } from '../infrastructure-port.js';
import { databaseRef, PRECONDITION_RETRY, UNDO_RETRY } from './placement.js';

export const databaseProvisionParams = z.object({
  ...databaseRef,
  instanceId: z.string().min(1),
  instanceSize: z.string().min(1).optional(),
  image: z.string().min(1),
  sizeGb: z.number().int().positive(),
});
export type DatabaseProvisionParams = z.infer<typeof databaseProvisionParams>;

type P = DatabaseProvisionParams;

/**
 * Creates a database: instance, image, volume (created, attached, mounted), the database record
 * and its container. Things that existed before are reused and never deleted by the rollback.
 */
export const databaseProvision = (
  infra: InfrastructurePort,
  options: { registries?: readonly RegistryName[] } = {},
): OperationDefinition<P> =>
  defineOperation<P>({
    type: 'database.provision',
    lifecycle: 'provision',
    params: databaseProvisionParams,
    steps: [
      step<P, { launched: boolean }>({
        name: 'ensure instance',
        retry: PRECONDITION_RETRY,
        undoRetry: UNDO_RETRY,
        run: async ({ params, signal }) => {
          const before = await infra.compute.describeInstance(params.instanceId, { signal });
          await infra.compute.ensureInstance(
            {
              instanceId: params.instanceId,
              ...(params.instanceSize ? { size: params.instanceSize } : {}),
            },
            { signal },
          );
          return { launched: before === undefined };
        },
        undo: async ({ params, output }) => {
          if (output?.launched) await infra.compute.terminateInstance(params.instanceId);
        },
      }),
      step<P, null>({
        name: 'pull image',
        kind: 'no_side_effects',
        alternatives: options.registries ?? ['docker-hub', 'quay'],
        retry: { ...PRECONDITION_RETRY, maxAttempts: 2 },
        run: async ({ params, provider, signal }) => {
          const registry = (provider ?? 'docker-hub') as RegistryName;
          await infra.containers.pullImage(
            { instanceId: params.instanceId, image: params.image, registry },
            { signal },
          );
          return null;
        },
      }),
      step<P, { created: boolean }>({
        name: 'create volume',
        retry: PRECONDITION_RETRY,
        undoRetry: UNDO_RETRY,
        run: async ({ params, signal }) => {
          const before = await infra.volumes.describeVolume(params.volumeId, { signal });
          await infra.volumes.createVolume(
            { volumeId: params.volumeId, sizeGb: params.sizeGb },
            { signal },
          );
          return { created: before === undefined };
        },
        // A volume holds data: only one this operation created is deleted, never on doubt.
        undo: async ({ params, output }) => {
          if (output?.created) await infra.volumes.deleteVolume(params.volumeId);
        },
      }),
      step<P, null>({
        name: 'attach volume',
        undoRetry: UNDO_RETRY,
        run: async ({ params, signal }) => {
          await infra.volumes.attachVolume(
            { volumeId: params.volumeId, instanceId: params.instanceId },
            { signal },
          );
          return null;
        },
        undo: async ({ params }) => {
          const volume = await infra.volumes.describeVolume(params.volumeId);
          if (volume?.attachedTo === params.instanceId) {
            await infra.volumes.detachVolume(params.volumeId);
          }
        },
      }),
      step<P, null>({
        name: 'mount volume',
        undoRetry: UNDO_RETRY,
        run: async ({ params, signal }) => {
          await infra.volumes.mountVolume({ volumeId: params.volumeId }, { signal });
          return null;
        },
        undo: async ({ params }) => {
          await infra.volumes.unmountVolume(params.volumeId);
        },
      }),
      step<P, null>({
        name: 'create database',
        undoRetry: UNDO_RETRY,
        run: async ({ params, signal }) => {
          await infra.databases.createDatabase(
            { databaseId: params.databaseId, volumeId: params.volumeId },
            { signal },
          );
          return null;
        },
        undo: async ({ params }) => {
          await infra.databases.deleteDatabase(params.databaseId);
        },
      }),
      step<P, null>({
        name: 'start container',
        undoRetry: UNDO_RETRY,
        run: async ({ params, signal }) => {
          await infra.containers.startContainer(
            {
              containerId: params.containerId,
              instanceId: params.instanceId,
              image: params.image,
              volumeId: params.volumeId,
            },
            { signal },
          );
          return null;
        },
        undo: async ({ params }) => {
          const container = await infra.containers.describeContainer(params.containerId);
          if (!container) return;
          await infra.containers.stopContainer({ containerId: params.containerId });
          await infra.containers.removeContainer(params.containerId);
        },
      }),
    ],
  });
