import { z } from 'zod';
import { OpledgerError } from '../../domain/errors.js';
import {
  outputOf,
  step,
  type StepDraft,
  type StepHandle,
} from '../../domain/operation-definition.js';
import type { RetryPolicy } from '../../domain/retry-policy.js';
import type { InfrastructurePort } from '../infrastructure-port.js';

/** What every operation on a running database names: the database, its volume, its container. */
export const databaseRef = {
  databaseId: z.string().min(1),
  volumeId: z.string().min(1),
  containerId: z.string().min(1),
};

export interface DatabaseRefParams {
  databaseId: string;
  volumeId: string;
  containerId: string;
}

/** Where the database runs before the operation: read by `inspect placement`. */
export interface Placement {
  instanceId: string;
  image: string;
  mountPath: string | null;
}

/**
 * Undos run during a rollback, often while a dependency is still failing: they retry patiently
 * (every undo here is idempotent, so retrying is always safe).
 */
export const UNDO_RETRY: Partial<RetryPolicy> = {
  maxAttempts: 8,
  initialIntervalMs: 2_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 60_000,
  nonRetryable: ['NOT_FOUND', 'CONFLICT', 'INVALID_REQUEST', 'IMAGE_NOT_PULLED'],
};

/** Retries for steps before the downtime window: they cost time, never availability. */
export const PRECONDITION_RETRY: Partial<RetryPolicy> = {
  maxAttempts: 3,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  nonRetryable: ['NOT_FOUND', 'CONFLICT', 'INVALID_REQUEST', 'INSTANCE_CRASHED'],
};

export class PlacementError extends OpledgerError {
  constructor(message: string) {
    super('INVALID_PLACEMENT', message);
  }
}

/** Reads and checks the current placement: the container runs the database's volume, mounted. */
export const inspectPlacement = <P extends DatabaseRefParams>(
  infra: InfrastructurePort,
): StepDraft<P, Placement> =>
  step<P, Placement>({
    name: 'inspect placement',
    kind: 'no_side_effects',
    retry: PRECONDITION_RETRY,
    run: async ({ params, signal, log }) => {
      const container = await infra.containers.describeContainer(params.containerId, { signal });
      if (!container) {
        throw new PlacementError(`container ${params.containerId} does not exist`);
      }
      if (container.volumeId !== params.volumeId) {
        throw new PlacementError(
          `container ${params.containerId} does not use volume ${params.volumeId}`,
        );
      }
      const volume = await infra.volumes.describeVolume(params.volumeId, { signal });
      if (!volume || volume.attachedTo !== container.instanceId || !volume.mounted) {
        throw new PlacementError(
          `volume ${params.volumeId} is not mounted on instance ${container.instanceId}`,
        );
      }
      log(
        `Database ${params.databaseId} runs in container ${container.id} on instance ${container.instanceId}.`,
      );
      return {
        instanceId: container.instanceId,
        image: container.image,
        mountPath: volume.mountPath,
      };
    },
  });

/**
 * The old container names the old instance and image, even when a step's output is unknown. A
 * rollback puts the database back there, so a crashed old instance is rebooted first.
 */
const oldContainer = async (infra: InfrastructurePort, containerId: string) => {
  const container = await infra.containers.describeContainer(containerId);
  if (!container) throw new PlacementError(`container ${containerId} has disappeared`);
  const instance = await infra.compute.describeInstance(container.instanceId);
  if (instance?.state === 'crashed') {
    await infra.compute.ensureInstance({ instanceId: container.instanceId });
  }
  return container;
};

/** Attaches the volume to `instanceId` if it is attached nowhere (undo of a detach). */
const reattach = async (infra: InfrastructurePort, volumeId: string, instanceId: string) => {
  const volume = await infra.volumes.describeVolume(volumeId);
  if (volume && volume.attachedTo === null) {
    await infra.volumes.attachVolume({ volumeId, instanceId });
  }
};

/** Mounts the volume if it is attached to `instanceId` and not mounted (undo of an unmount). */
const remount = async (infra: InfrastructurePort, volumeId: string, instanceId: string) => {
  const volume = await infra.volumes.describeVolume(volumeId);
  if (volume && volume.attachedTo === instanceId && !volume.mounted) {
    await infra.volumes.mountVolume({ volumeId });
  }
};

/**
 * The placement `inspect` recorded. It is every operation's first step and has no `when`, so a
 * later step only runs once it has succeeded: its output is always there.
 */
export const placementOf = (
  outputs: Readonly<Record<string, unknown>>,
  inspect: StepHandle<Placement>,
): Placement => {
  const placement = outputOf(outputs, inspect);
  if (!placement) throw new PlacementError(`step '${inspect.spec.name}' has recorded no placement`);
  return placement;
};

/**
 * The downtime window: stop the container, unmount and detach the volume, (resize it,) attach
 * and mount it on the target instance, start the container there. Runs are single calls with no
 * retries, so the window is exactly the calls' durations; every undo moves the database back
 * towards its old placement and is idempotent (it looks before it acts).
 */
export const stopOldContainer = <P extends DatabaseRefParams>(
  infra: InfrastructurePort,
): StepDraft<P> =>
  step<P, { stoppedBy: string }>({
    name: 'stop old container',
    undoRetry: UNDO_RETRY,
    run: async ({ params, signal }) => {
      const result = await infra.containers.stopContainer(
        { containerId: params.containerId },
        { signal },
      );
      return { stoppedBy: result.stoppedBy };
    },
    undo: async ({ params, log }) => {
      const container = await oldContainer(infra, params.containerId);
      // A crash of the old instance drops its mounts: put the volume back before starting.
      await reattach(infra, params.volumeId, container.instanceId);
      await remount(infra, params.volumeId, container.instanceId);
      const current = await infra.containers.describeContainer(container.id);
      if (current?.state === 'running') return;
      await infra.containers.startContainer({
        containerId: container.id,
        instanceId: container.instanceId,
        image: container.image,
        volumeId: params.volumeId,
      });
      log(`Started container ${container.id} again on instance ${container.instanceId}.`);
    },
  });

export const unmountOldVolume = <P extends DatabaseRefParams>(
  infra: InfrastructurePort,
): StepDraft<P> =>
  step<P, null>({
    name: 'unmount volume',
    undoRetry: UNDO_RETRY,
    run: async ({ params, signal }) => {
      await infra.volumes.unmountVolume(params.volumeId, { signal });
      return null;
    },
    undo: async ({ params }) => {
      const container = await oldContainer(infra, params.containerId);
      await remount(infra, params.volumeId, container.instanceId);
    },
  });

export const detachOldVolume = <P extends DatabaseRefParams>(
  infra: InfrastructurePort,
): StepDraft<P> =>
  step<P, null>({
    name: 'detach volume',
    undoRetry: UNDO_RETRY,
    run: async ({ params, signal }) => {
      await infra.volumes.detachVolume(params.volumeId, { signal });
      return null;
    },
    undo: async ({ params }) => {
      const container = await oldContainer(infra, params.containerId);
      await reattach(infra, params.volumeId, container.instanceId);
    },
  });

/** `target` names the instance the volume goes to: the old one for a resize. */
export const attachVolumeTo = <P extends DatabaseRefParams>(
  infra: InfrastructurePort,
  target: (params: P, outputs: Readonly<Record<string, unknown>>) => string,
): StepDraft<P> =>
  step<P, { instanceId: string }>({
    name: 'attach volume',
    undoRetry: UNDO_RETRY,
    run: async ({ params, outputs, signal }) => {
      const instanceId = target(params, outputs);
      await infra.volumes.attachVolume({ volumeId: params.volumeId, instanceId }, { signal });
      return { instanceId };
    },
    undo: async ({ params }) => {
      const container = await oldContainer(infra, params.containerId);
      const volume = await infra.volumes.describeVolume(params.volumeId);
      // Attached elsewhere than the old instance: only this step can have put it there.
      if (volume && volume.attachedTo !== null && volume.attachedTo !== container.instanceId) {
        if (volume.mounted) await infra.volumes.unmountVolume(params.volumeId);
        await infra.volumes.detachVolume(params.volumeId);
      }
    },
  });

/** Mounts the volume at the mount path `inspect` found it at. */
export const mountVolume = <P extends DatabaseRefParams>(
  infra: InfrastructurePort,
  inspect: StepHandle<Placement>,
): StepDraft<P> =>
  step<P, null>({
    name: 'mount volume',
    undoRetry: UNDO_RETRY,
    run: async ({ params, outputs, signal }) => {
      const { mountPath } = placementOf(outputs, inspect);
      await infra.volumes.mountVolume(
        { volumeId: params.volumeId, ...(mountPath ? { mountPath } : {}) },
        { signal },
      );
      return null;
    },
    undo: async ({ params }) => {
      const container = await oldContainer(infra, params.containerId);
      const volume = await infra.volumes.describeVolume(params.volumeId);
      if (volume?.mounted && volume.attachedTo !== container.instanceId) {
        await infra.volumes.unmountVolume(params.volumeId);
      }
    },
  });

/** Starts `containerId(params, operationId)` on the target instance with the volume. */
export const startContainerOn = <P extends DatabaseRefParams>(
  infra: InfrastructurePort,
  name: string,
  where: (
    params: P,
    outputs: Readonly<Record<string, unknown>>,
    operationId: string,
  ) => { containerId: string; instanceId: string; image: string },
): StepDraft<P> =>
  step<P, { containerId: string; instanceId: string }>({
    name,
    undoRetry: UNDO_RETRY,
    run: async ({ params, outputs, operationId, signal, log }) => {
      const spec = where(params, outputs, operationId);
      await infra.containers.startContainer({ ...spec, volumeId: params.volumeId }, { signal });
      log(
        `Database ${params.databaseId} runs in container ${spec.containerId} on instance ${spec.instanceId}.`,
      );
      return { containerId: spec.containerId, instanceId: spec.instanceId };
    },
    undo: async ({ params, output, operationId }) => {
      // The old container is restarted by the undo of 'stop old container'; a new one is stopped.
      const containerId = output?.containerId ?? newContainerId(params.databaseId, operationId);
      if (containerId === params.containerId) return;
      await infra.containers.stopContainer({ containerId });
    },
  });

/** The id of the container a redeploy starts: deterministic, so undos after a crash find it. */
export const newContainerId = (databaseId: string, operationId: string) =>
  `${databaseId}-${operationId}`;
