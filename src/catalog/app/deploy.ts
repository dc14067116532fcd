import { z } from 'zod';
import {
  defineOperation,
  step,
  type OperationDefinition,
} from '../../domain/operation-definition.js';
import type {
  InfrastructurePort,
  RegistryName,
} from '../../adapters/infrastructure/infrastructure-port.js';
import {
  currentRelease,
  deregisterStep,
  healthCheckStep,
  oldFrom,
  registerStep,
  startContainersStep,
  stopContainersStep,
  type StartedOutput,
} from './release-steps.js';
import {
  appTarget,
  describeSpecs,
  instanceOf,
  noSideEffects,
  persist,
  resolveOptions,
  stopAndRemove,
  type AppCatalogOptions,
  type ContainerSpecData,
  type Resolved,
} from './shared.js';

export const REGISTRIES: readonly RegistryName[] = ['docker-hub', 'quay'];

export const appDeployParams = z.object({
  ...appTarget,
  image: z.string().min(1),
  previousImage: z.string().min(1).optional(),
  /** Commands run in order in a one-off container before the release (e.g. migrations). */
  beforeRelease: z.array(z.string().min(1)).default([]),
  strictHealthCheck: z.boolean().default(false),
  healthCheckTimeoutSeconds: z.number().int().min(0).max(900).default(180),
  containerCount: z.number().int().min(1).max(100).default(1),
  /** false: a service without an endpoint (worker): old containers stop before new ones start. */
  endpoint: z.boolean().default(true),
  /** Without an endpoint, the containers of the running release (there is no target list). */
  previousContainers: z.array(z.string().min(1)).default([]),
  /** Environment of the new containers; by default that of the release it replaces. */
  env: z.record(z.string(), z.string()).optional(),
});

export type AppDeployParams = z.output<typeof appDeployParams>;

const START = 'start new containers';
const DEREGISTER = 'deregister old targets';

/** Pulls `image` onto `instanceId` from the first registry that answers. */
const pullAnywhere = async (
  r: Resolved,
  instanceId: string,
  image: string,
  signal: AbortSignal,
): Promise<RegistryName> => {
  let last: unknown;
  for (const registry of REGISTRIES) {
    try {
      await r.infra.containers.pullImage({ instanceId, image, registry }, { signal });
      return registry;
    } catch (error) {
      last = error;
    }
  }
  throw last;
};

/** Old containers of an app without an endpoint: those of `previousContainers` that exist. */
const oldWithoutEndpoint = async (r: Resolved, p: AppDeployParams, signal: AbortSignal) => {
  const existing: string[] = [];
  for (const id of p.previousContainers) {
    if (await r.infra.containers.describeContainer(id, { signal })) existing.push(id);
  }
  return describeSpecs(r, existing, signal);
};

export const deploySteps = (r: Resolved) => {
  const withEndpoint = (p: AppDeployParams) => p.endpoint;
  return [
    step<AppDeployParams, { ran: string[] }>({
      name: 'before_release',
      // Commands such as database migrations cannot be taken back: say so, never pretend.
      kind: 'irreversible',
      // No commands, no step: a deploy without them has nothing irreversible to report.
      when: (p) => p.beforeRelease.length > 0,
      retry: r.retry,
      run: async ({ params: p, operationId, signal, log }) => {
        const runner = `${p.app}-release-runner`;
        await r.infra.compute.ensureInstance({ instanceId: runner }, { signal });
        const registry = await pullAnywhere(r, runner, p.image, signal);
        log(`Pulled ${p.image} from ${registry} for the one-off container`);
        const ran: string[] = [];
        for (const [i, command] of p.beforeRelease.entries()) {
          const containerId = `${p.app}-${operationId}-release-${i + 1}`;
          try {
            await r.infra.containers.startContainer(
              { containerId, instanceId: runner, image: p.image, command: ['sh', '-c', command] },
              { signal },
            );
            await stopAndRemove(r, containerId, signal);
          } catch (error) {
            await persist(r.clock, () => stopAndRemove(r, containerId)).catch(() => undefined);
            throw error;
          }
          ran.push(command);
          log(`Ran '${command}' in a one-off container`);
        }
        return { ran };
      },
    }),
    noSideEffects<AppDeployParams, { registry: string }>(r, {
      name: 'pull image',
      alternatives: [...REGISTRIES],
      run: async ({ params: p, provider, signal, log }) => {
        const registry = (provider ?? 'docker-hub') as RegistryName;
        await r.infra.containers.pullImage(
          { instanceId: instanceOf(p), image: p.image, registry },
          { signal },
        );
        log(`Pulled ${p.image} from ${registry}`);
        return { registry };
      },
    }),
    stopContainersStep<AppDeployParams>(r, 'stop old containers (no endpoint)', async (ctx) =>
      ctx.params.endpoint ? [] : oldWithoutEndpoint(r, ctx.params, ctx.signal),
    ),
    startContainersStep<AppDeployParams>(
      r,
      START,
      async (ctx) => {
        const p = ctx.params;
        let env = p.env;
        if (env === undefined) {
          const old = p.endpoint
            ? (await currentRelease(r, ctx)).specs
            : ((ctx.outputs['stop old containers (no endpoint)'] as { old: ContainerSpecData[] })
                ?.old ?? []);
          env = old[0]?.env ?? {};
        }
        return { image: p.image, env, count: p.containerCount };
      },
      { endpointMode: withEndpoint },
    ),
    healthCheckStep<AppDeployParams>(r, START, (p) => ({
      strict: p.strictHealthCheck,
      timeoutSeconds: p.healthCheckTimeoutSeconds,
    })),
    registerStep<AppDeployParams>(r, 'register new targets', START, withEndpoint),
    deregisterStep<AppDeployParams>(
      r,
      DEREGISTER,
      (ctx, targets) => {
        const fresh = (ctx.outputs[START] as StartedOutput | undefined)?.ids ?? [];
        return targets.filter((t) => !fresh.includes(t));
      },
      withEndpoint,
    ),
    stopContainersStep<AppDeployParams>(r, 'stop old containers', oldFrom(DEREGISTER)),
  ];
};

/**
 * Zero-downtime deploy: the old release keeps serving until the new one is healthy and
 * registered. `stop old containers` is last and undoable (the containers are started again from
 * their recorded specs; the old image is still on the instance).
 */
export const appDeploy = (
  infra: InfrastructurePort,
  options?: AppCatalogOptions,
): OperationDefinition<AppDeployParams> => {
  const r = resolveOptions(infra, options);
  return defineOperation<AppDeployParams>({
    type: 'app.deploy',
    params: appDeployParams,
    release: ({ params }) => params.image,
    steps: deploySteps(r),
  });
};
