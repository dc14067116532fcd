import { z } from 'zod';
import {
  defineOperation,
  step,
  type OperationDefinition,
} from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';

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

export const environmentDeprovision = (
  infra: InfrastructurePort,
): OperationDefinition<EnvironmentParams> =>
  defineOperation<EnvironmentParams>({
    type: 'environment.deprovision',
    lifecycle: 'deprovision',
    params: environmentParams,
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
