import { z } from 'zod';
import {
  defineOperation,
  step,
  type OperationDefinition,
} from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
import { createdByObject } from './provision.js';
import {
  deregisterStep,
  recordedOld,
  recordExisting,
  stopContainersStep,
} from './release-steps.js';
import { deleteEnvKey } from './sealed-env.js';
import { AppStateError } from './app-errors.js';
import { resolveOptions, type AppCatalogOptions } from './app-options.js';
import { appTarget, endpointOf, instanceOf } from './app-target.js';

export const appDeprovisionParams = z.object({
  ...appTarget,
  /** false: a service without an endpoint (worker); give its containers in `containers`. */
  endpoint: z.boolean().default(true),
  /** Containers to stop besides the endpoint's targets (those of a service without endpoint). */
  containers: z.array(z.string().min(1)).default([]),
  /** false when the instance is shared with other apps: it is then left running. */
  terminateInstance: z.boolean().default(true),
});
export type AppDeprovisionParams = z.output<typeof appDeprovisionParams>;

type P = AppDeprovisionParams;

/**
 * Deletes an app. The steps that can be taken back come first and are undoable: deregister
 * every target (with the drain) and stop and remove the containers (their env recorded sealed).
 * The destructive ones come last and are irreversible, as on a real PaaS (a deleted endpoint's
 * hostname is gone, so is a terminated instance): delete the endpoint, terminate the instance,
 * delete the app's records (the key of its sealed environments included). So a failure or a
 * cancel before them restores the app completely; after the first of them, the rollback says
 * what could not be undone.
 */
export const appDeprovision = (
  infra: InfrastructurePort,
  options?: AppCatalogOptions,
): OperationDefinition<P> => {
  const r = resolveOptions(infra, options);
  const withEndpoint = (p: P) => p.endpoint;
  const deregister = deregisterStep<P>(
    r,
    'deregister targets',
    (_ctx, targets) => targets,
    withEndpoint,
    { emptying: true },
  );
  return defineOperation<P>({
    type: 'app.deprovision',
    lifecycle: 'deprovision',
    params: appDeprovisionParams,
    steps: [
      deregister,
      stopContainersStep<P>(r, 'stop containers', async (ctx) => {
        const deregistered = recordedOld(ctx.outputs, deregister);
        const others = ctx.params.containers.filter((id) => !deregistered.some((s) => s.id === id));
        return [...deregistered, ...(await recordExisting(r, ctx.params.app, others, ctx.signal))];
      }),
      step<P, null>({
        name: 'delete endpoint',
        kind: 'irreversible',
        when: withEndpoint,
        retry: r.retry,
        run: async ({ params: p, signal, log }) => {
          const endpoint = await r.infra.loadBalancer.describeEndpoint(endpointOf(p), { signal });
          if (!endpoint) return null;
          if (endpoint.targets.length > 0) {
            throw new AppStateError(
              `endpoint ${endpoint.id} has targets again (${endpoint.targets.join(', ')}): not deleting it`,
            );
          }
          await r.infra.loadBalancer.deleteEndpoint(endpoint.id, { signal });
          log(`Deleted endpoint ${endpoint.id}`);
          return null;
        },
      }),
      step<P, null>({
        name: 'terminate instance',
        kind: 'irreversible',
        when: (p) => p.terminateInstance,
        retry: r.retry,
        run: async ({ params: p, signal, log }) => {
          await r.infra.compute.terminateInstance(instanceOf(p), { signal });
          log(`Terminated instance ${instanceOf(p)}`);
          return null;
        },
      }),
      step<P, null>({
        name: 'delete app records',
        kind: 'irreversible',
        retry: r.retry,
        run: async ({ params: p, signal, log }) => {
          for (const part of ['instance', 'endpoint'] as const) {
            await r.infra.objectStorage.deleteObject(
              { bucket: r.configBucket, key: createdByObject(p.app, part) },
              { signal },
            );
          }
          // Last, in one call: the step fails before it or has done everything.
          await deleteEnvKey(r, p.app, signal);
          log(`Deleted the records of ${p.app}: its recorded environments can no longer be read`);
          return null;
        },
      }),
    ],
  });
};
