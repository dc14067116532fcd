import { z } from 'zod';
import {
  defineOperation,
  outputOf,
  step,
  type OperationDefinition,
} from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
import { PreconditionFailedError } from '../precondition-error.js';
import {
  attachVolumeTo,
  databaseRef,
  detachOldVolume,
  inspectPlacement,
  mountVolume,
  placementOf,
  PRECONDITION_RETRY,
  startContainerOn,
  stopOldContainer,
  unmountOldVolume,
} from './placement.js';

export const databaseResizeVolumeParams = z.object({
  ...databaseRef,
  sizeGb: z.number().int().positive(),
});
export type DatabaseResizeVolumeParams = z.infer<typeof databaseResizeVolumeParams>;

export interface DatabaseResizeVolumeOptions {
  /**
   * 'detached' (default): stop, unmount, detach, resize, attach, mount, start, as the port only
   * promises resizing a volume nobody uses. 'in-place': one resize call while the database
   * serves, for clouds that grow attached volumes online (no downtime).
   */
  mode?: 'detached' | 'in-place';
}

const checkSize = (infra: InfrastructurePort) =>
  step<DatabaseResizeVolumeParams, { fromGb: number }>({
    name: 'check new size',
    kind: 'no_side_effects',
    retry: PRECONDITION_RETRY,
    run: async ({ params, signal }) => {
      const volume = await infra.volumes.describeVolume(params.volumeId, { signal });
      if (!volume) throw new PreconditionFailedError(`volume ${params.volumeId} does not exist`);
      if (params.sizeGb <= volume.sizeGb) {
        throw new PreconditionFailedError(
          `volume ${params.volumeId} has ${volume.sizeGb} GB: a resize must grow it, asked ${params.sizeGb} GB`,
        );
      }
      return { fromGb: volume.sizeGb };
    },
  });

const resize = (infra: InfrastructurePort, check: ReturnType<typeof checkSize>) =>
  step<DatabaseResizeVolumeParams, { fromGb: number; toGb: number }>({
    name: 'resize volume',
    // Volumes only grow: the extra space cannot be given back, the data is untouched.
    kind: 'irreversible',
    run: async ({ params, outputs, signal, log }) => {
      await infra.volumes.resizeVolume(
        { volumeId: params.volumeId, sizeGb: params.sizeGb },
        { signal },
      );
      // 'check new size' ran before and succeeded, or this step would not run.
      const { fromGb } = outputOf(outputs, check) ?? { fromGb: 0 };
      log(`Volume ${params.volumeId} grew from ${fromGb} GB to ${params.sizeGb} GB.`);
      return { fromGb, toGb: params.sizeGb };
    },
  });

/** Grows a database's volume with minimal downtime: the window is stop ... start, nothing else. */
export const databaseResizeVolume = (
  infra: InfrastructurePort,
  options: DatabaseResizeVolumeOptions = {},
): OperationDefinition<DatabaseResizeVolumeParams> => {
  const inspect = inspectPlacement<DatabaseResizeVolumeParams>(infra);
  const check = checkSize(infra);
  return defineOperation<DatabaseResizeVolumeParams>({
    type: 'database.resize_volume',
    params: databaseResizeVolumeParams,
    steps:
      options.mode === 'in-place'
        ? [inspect, check, resize(infra, check)]
        : [
            inspect,
            check,
            stopOldContainer(infra),
            unmountOldVolume(infra),
            detachOldVolume(infra),
            resize(infra, check),
            attachVolumeTo<DatabaseResizeVolumeParams>(
              infra,
              (_params, outputs) => placementOf(outputs, inspect).instanceId,
            ),
            mountVolume(infra, inspect),
            startContainerOn<DatabaseResizeVolumeParams>(
              infra,
              'start container',
              (params, outputs) => ({
                containerId: params.containerId,
                instanceId: placementOf(outputs, inspect).instanceId,
                image: placementOf(outputs, inspect).image,
              }),
            ),
          ],
  });
};
