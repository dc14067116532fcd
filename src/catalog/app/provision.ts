import { z } from 'zod';
import { defineOperation, type OperationDefinition } from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
import { AppStateError } from './app-errors.js';
import { resolveOptions, type AppCatalogOptions, type Resolved } from './app-options.js';
import { appTarget, endpointOf, instanceOf } from './app-target.js';
import { persist } from './clean-up.js';
import { undoable } from './step-kinds.js';

export const appProvisionParams = z.object({
  ...appTarget,
  instanceSize: z.string().min(1).optional(),
  /** false: a service without an endpoint (worker): only the instance is provisioned. */
  endpoint: z.boolean().default(true),
});
export type AppProvisionParams = z.output<typeof appProvisionParams>;

type P = AppProvisionParams;
type Part = 'instance' | 'endpoint';

/**
 * Which operation created the app's instance or endpoint: written before the creation, so that
 * an undo whose outcome is unknown (a crash while creating) still knows whether the thing is
 * its own. Deleted by that undo, or with the rest of the app's records by `appDeprovision`.
 */
export const createdByObject = (app: string, part: Part) => `${app}/created-by/${part}`;

const claim = (r: Resolved, app: string, part: Part, operationId: string, signal?: AbortSignal) =>
  r.infra.objectStorage.putObject(
    { bucket: r.configBucket, key: createdByObject(app, part), body: operationId },
    { signal },
  );

const claimedBy = (r: Resolved, app: string, part: Part) =>
  r.infra.objectStorage.getObject({ bucket: r.configBucket, key: createdByObject(app, part) });

const forget = (r: Resolved, app: string, part: Part) =>
  r.infra.objectStorage.deleteObject({ bucket: r.configBucket, key: createdByObject(app, part) });

interface Created {
  created: boolean;
}

/**
 * A step that creates `part` when it does not exist; its undo removes it only if this
 * operation created it, and with an unknown outcome asks the claim written before creating.
 */
const ensureStep = (
  r: Resolved,
  spec: {
    name: string;
    part: Part;
    when?: (p: P) => boolean;
    exists: (p: P, signal?: AbortSignal) => Promise<boolean>;
    create: (p: P, signal: AbortSignal) => Promise<unknown>;
    remove: (p: P) => Promise<void>;
    describe: (p: P) => string;
  },
) => {
  const draft = undoable<P, Created>(r, {
    name: spec.name,
    run: async ({ params: p, operationId, signal, log }) => {
      if (await spec.exists(p, signal)) {
        log(`${spec.describe(p)} already exists: kept as it is`);
        return { created: false };
      }
      await claim(r, p.app, spec.part, operationId, signal);
      try {
        await spec.create(p, signal);
      } catch (error) {
        // Whether the creation happened or not, nothing of it may stay behind a failed run.
        await persist(r.clock, () => spec.remove(p));
        await persist(r.clock, () => forget(r, p.app, spec.part));
        throw error;
      }
      log(`Created ${spec.describe(p)}`);
      return { created: true };
    },
    undo: async ({ params: p, output, operationId, log }) => {
      const mine =
        output === undefined
          ? (await claimedBy(r, p.app, spec.part)) === operationId
          : output.created;
      if (!mine) return;
      await spec.remove(p);
      await forget(r, p.app, spec.part);
      log(`Removed ${spec.describe(p)}, which this operation created`);
    },
  });
  return spec.when ? { spec: { ...draft.spec, when: spec.when } } : draft;
};

/**
 * Creates what an app runs on: its instance and, for a service with an endpoint, its
 * load-balancer endpoint (empty: the first deploy registers the first release). Things that
 * existed before are kept and never removed by the rollback. No release yet.
 */
export const appProvision = (
  infra: InfrastructurePort,
  options?: AppCatalogOptions,
): OperationDefinition<P> => {
  const r = resolveOptions(infra, options);
  return defineOperation<P>({
    type: 'app.provision',
    lifecycle: 'provision',
    params: appProvisionParams,
    steps: [
      ensureStep(r, {
        name: 'launch instance',
        part: 'instance',
        describe: (p) => `instance ${instanceOf(p)}`,
        exists: async (p, signal) =>
          (await r.infra.compute.describeInstance(instanceOf(p), { signal })) !== undefined,
        create: (p, signal) =>
          r.infra.compute.ensureInstance(
            { instanceId: instanceOf(p), ...(p.instanceSize ? { size: p.instanceSize } : {}) },
            { signal },
          ),
        remove: (p) => r.infra.compute.terminateInstance(instanceOf(p)),
      }),
      ensureStep(r, {
        name: 'create endpoint',
        part: 'endpoint',
        when: (p) => p.endpoint,
        describe: (p) => `endpoint ${endpointOf(p)}`,
        exists: async (p, signal) =>
          (await r.infra.loadBalancer.describeEndpoint(endpointOf(p), { signal })) !== undefined,
        create: (p, signal) =>
          r.infra.loadBalancer.createEndpoint({ endpointId: endpointOf(p) }, { signal }),
        remove: async (p) => {
          const endpoint = await r.infra.loadBalancer.describeEndpoint(endpointOf(p));
          if (!endpoint) return;
          // Created empty by this operation: a target means someone serves there since.
          if (endpoint.targets.length > 0) {
            throw new AppStateError(
              `endpoint ${endpoint.id} has targets (${endpoint.targets.join(', ')}): not deleting it`,
            );
          }
          await r.infra.loadBalancer.deleteEndpoint(endpoint.id);
        },
      }),
    ],
  });
};
