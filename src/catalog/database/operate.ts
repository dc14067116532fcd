import { z } from 'zod';
import { OpledgerError } from '../../domain/errors.js';
import {
  defineOperation,
  step,
  type OperationDefinition,
} from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
import { PreconditionFailedError } from '../precondition-error.js';
import {
  databaseRef,
  PRECONDITION_RETRY,
  UNDO_RETRY,
  type DatabaseRefParams,
} from './placement.js';

const restartContainer = async (infra: InfrastructurePort, params: DatabaseRefParams) => {
  const container = await infra.containers.describeContainer(params.containerId);
  if (!container)
    throw new PreconditionFailedError(`container ${params.containerId} does not exist`);
  await infra.containers.startContainer({
    containerId: container.id,
    instanceId: container.instanceId,
    image: container.image,
    volumeId: params.volumeId,
  });
};

export const databaseRestartParams = z.object(databaseRef);
export type DatabaseRestartParams = z.infer<typeof databaseRestartParams>;

/** The database named by a restart is not there (or that container is not its container). */
export class DatabaseNotFoundError extends OpledgerError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/**
 * Stops and starts the database's container; a failure leaves it as it was (running, unless it
 * was stopped before). It checks first that the container exists and runs the database's volume:
 * without that check, a restart of a database that is not there "stopped" nothing, failed to
 * start, and then reported that the stop could not be undone, although nothing had changed.
 */
export const databaseRestart = (
  infra: InfrastructurePort,
): OperationDefinition<DatabaseRestartParams> =>
  defineOperation<DatabaseRestartParams>({
    type: 'database.restart',
    params: databaseRestartParams,
    steps: [
      step<DatabaseRestartParams, { instanceId: string }>({
        name: 'check database',
        kind: 'no_side_effects',
        retry: PRECONDITION_RETRY,
        run: async ({ params, signal, log }) => {
          const container = await infra.containers.describeContainer(params.containerId, {
            signal,
          });
          const refuse = (problem: string) =>
            new DatabaseNotFoundError(
              `cannot restart database ${params.databaseId}: ${problem}; nothing was changed. Check its databaseId, volumeId and containerId.`,
            );
          if (!container) throw refuse(`container ${params.containerId} does not exist`);
          if (container.volumeId !== params.volumeId) {
            throw refuse(
              `container ${params.containerId} does not use volume ${params.volumeId}, so it is not the container of database ${params.databaseId}`,
            );
          }
          log(
            `Database ${params.databaseId} runs in container ${container.id} on instance ${container.instanceId}.`,
          );
          return { instanceId: container.instanceId };
        },
      }),
      step<DatabaseRestartParams, { stoppedBy: string }>({
        name: 'stop container',
        undoRetry: UNDO_RETRY,
        run: async ({ params, signal }) => {
          const { stoppedBy } = await infra.containers.stopContainer(
            { containerId: params.containerId },
            { signal },
          );
          return { stoppedBy };
        },
        undo: async ({ params, output, log }) => {
          // Stopped before the restart: this step changed nothing, and stopped is how it was.
          if (output?.stoppedBy === 'already-stopped') {
            log(`Container ${params.containerId} was already stopped: left as it was.`);
            return;
          }
          await restartContainer(infra, params);
        },
      }),
      step<DatabaseRestartParams, null>({
        name: 'start container',
        undoRetry: UNDO_RETRY,
        run: async ({ params }) => {
          await restartContainer(infra, params);
          return null;
        },
        // Before the restart the container ran: running is the state to restore.
        undo: ({ params }) => restartContainer(infra, params),
      }),
    ],
  });

export const databaseBackupParams = z.object({
  databaseId: z.string().min(1),
  bucket: z.string().min(1).default('opledger-backups'),
  /** Object key; `<databaseId>/<operationId>.dump` when omitted. */
  key: z.string().min(1).optional(),
});
export type DatabaseBackupParams = z.infer<typeof databaseBackupParams>;

/** Writes a backup of the database to object storage; the object is the output. */
export const databaseBackup = (
  infra: InfrastructurePort,
): OperationDefinition<DatabaseBackupParams> =>
  defineOperation<DatabaseBackupParams>({
    type: 'database.backup',
    params: databaseBackupParams,
    steps: [
      step<DatabaseBackupParams, null>({
        name: 'check database',
        kind: 'no_side_effects',
        run: async ({ params, signal }) => {
          if (!(await infra.databases.acceptsConnections(params.databaseId, { signal }))) {
            throw new PreconditionFailedError(
              `database ${params.databaseId} does not accept connections`,
            );
          }
          return null;
        },
      }),
      step<DatabaseBackupParams, { bucket: string; key: string }>({
        name: 'upload backup',
        retry: { maxAttempts: 3, initialIntervalMs: 1_000 },
        undoRetry: UNDO_RETRY,
        run: async ({ params, operationId, signal, log }) => {
          const key = params.key ?? `${params.databaseId}/${operationId}.dump`;
          const body = JSON.stringify({ databaseId: params.databaseId, operationId });
          await infra.objectStorage.putObject({ bucket: params.bucket, key, body }, { signal });
          log(`Backup written to ${params.bucket}/${key}.`);
          return { bucket: params.bucket, key };
        },
        undo: async ({ params, output, operationId }) => {
          const key = output?.key ?? params.key ?? `${params.databaseId}/${operationId}.dump`;
          await infra.objectStorage.deleteObject({ bucket: params.bucket, key });
        },
      }),
    ],
  });

export const databaseDeprovisionParams = z.object(databaseRef);
export type DatabaseDeprovisionParams = z.infer<typeof databaseDeprovisionParams>;

type D = DatabaseDeprovisionParams;

/**
 * Deletes a database: the container is stopped and the volume released (undoable), then the
 * container, the volume and the database record are deleted, which no rollback can bring back.
 */
export const databaseDeprovision = (infra: InfrastructurePort): OperationDefinition<D> =>
  defineOperation<D>({
    type: 'database.deprovision',
    lifecycle: 'deprovision',
    params: databaseDeprovisionParams,
    steps: [
      step<D, { instanceId: string | null }>({
        name: 'stop container',
        undoRetry: UNDO_RETRY,
        run: async ({ params, signal }) => {
          const container = await infra.containers.describeContainer(params.containerId, {
            signal,
          });
          if (container) {
            await infra.containers.stopContainer({ containerId: params.containerId }, { signal });
          }
          return { instanceId: container?.instanceId ?? null };
        },
        undo: async ({ params }) => {
          if (await infra.containers.describeContainer(params.containerId)) {
            await restartContainer(infra, params);
          }
        },
      }),
      step<D, { instanceId: string | null; mountPath: string | null }>({
        name: 'release volume',
        undoRetry: UNDO_RETRY,
        run: async ({ params, signal }) => {
          const volume = await infra.volumes.describeVolume(params.volumeId, { signal });
          await infra.volumes.unmountVolume(params.volumeId, { signal });
          try {
            await infra.volumes.detachVolume(params.volumeId, { signal });
          } catch (error) {
            // Leave no partial change: mount it back where it was.
            if (volume?.mounted) {
              await infra.volumes.mountVolume({
                volumeId: params.volumeId,
                ...(volume.mountPath ? { mountPath: volume.mountPath } : {}),
              });
            }
            throw error;
          }
          return { instanceId: volume?.attachedTo ?? null, mountPath: volume?.mountPath ?? null };
        },
        undo: async ({ params, output, log }) => {
          const instanceId = output?.instanceId;
          if (!instanceId) return;
          // A cancel after 'delete volume' rolls back past it: that deletion is reported as
          // irreversible, and there is no volume left to attach. Attaching anyway failed with
          // NOT_FOUND and listed this undo as failed too, as if something else had gone wrong.
          if (!(await infra.volumes.describeVolume(params.volumeId))) {
            log(`Volume ${params.volumeId} no longer exists: nothing to attach again.`);
            return;
          }
          await infra.volumes.attachVolume({ volumeId: params.volumeId, instanceId });
          await infra.volumes.mountVolume({
            volumeId: params.volumeId,
            ...(output.mountPath ? { mountPath: output.mountPath } : {}),
          });
        },
      }),
      step<D, null>({
        name: 'delete container',
        kind: 'irreversible',
        run: async ({ params, signal }) => {
          await infra.containers.removeContainer(params.containerId, { signal });
          return null;
        },
      }),
      step<D, null>({
        name: 'delete volume',
        kind: 'irreversible',
        run: async ({ params, signal }) => {
          await infra.volumes.deleteVolume(params.volumeId, { signal });
          return null;
        },
      }),
      step<D, null>({
        name: 'delete database',
        kind: 'irreversible',
        run: async ({ params, signal }) => {
          await infra.databases.deleteDatabase(params.databaseId, { signal });
          return null;
        },
      }),
    ],
  });
