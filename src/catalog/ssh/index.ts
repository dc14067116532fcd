import { z } from 'zod';
import {
  defineOperation,
  outputOf,
  step,
  type OperationDefinition,
} from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
import { PreconditionFailedError } from '../precondition-error.js';

export const sshSessionParams = z.object({
  /** The container the session is opened next to (an app's or a database's). */
  containerId: z.string().min(1),
  command: z.array(z.string()).default(['/bin/sh']),
});
export type SshSessionParams = z.infer<typeof sshSessionParams>;

/**
 * An ephemeral SSH session: it looks up where the container runs and hands out a session; it
 * changes nothing, so a failed or cancelled session is never rolled back.
 */
export const sshSession = (infra: InfrastructurePort): OperationDefinition<SshSessionParams> => {
  const locate = step<SshSessionParams, { instanceId: string; image: string }>({
    name: 'locate container',
    kind: 'no_side_effects',
    run: async ({ params, signal }) => {
      const container = await infra.containers.describeContainer(params.containerId, {
        signal,
      });
      if (!container || container.state !== 'running') {
        throw new PreconditionFailedError(`container ${params.containerId} is not running`);
      }
      return { instanceId: container.instanceId, image: container.image };
    },
  });
  return defineOperation<SshSessionParams>({
    type: 'ssh.session',
    params: sshSessionParams,
    steps: [
      locate,
      step<SshSessionParams, { sessionId: string; instanceId: string; command: string[] }>({
        name: 'open session',
        kind: 'no_side_effects',
        run: async ({ params, outputs, operationId, signal, log }) => {
          // 'locate container' ran before and succeeded, or this step would not run.
          const { instanceId } = outputOf(outputs, locate) ?? { instanceId: '' };
          const instance = await infra.compute.describeInstance(instanceId, { signal });
          if (instance?.state !== 'available') {
            throw new PreconditionFailedError(`instance ${instanceId} is not available`);
          }
          log(`Session ${operationId} opened on instance ${instanceId}.`);
          return { sessionId: operationId, instanceId, command: params.command };
        },
      }),
    ],
  });
};
