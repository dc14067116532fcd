import { z } from 'zod';
import {
  defineOperation,
  step,
  type OperationDefinition,
} from '../../domain/operation-definition.js';
import { ownKeyRecord } from '../../domain/own-key-record.js';
import type { InfrastructurePort, RegistryName } from '../infrastructure-port.js';
import {
  currentRelease,
  recordedOld,
  recordExisting,
  replaceAllAfter,
  startContainersStep,
  stopContainersStep,
} from './release-steps.js';
import { openEnv } from './sealed-env.js';
import { protectSecrets, recordValues } from './secret-params.js';
import { resolveOptions, type AppCatalogOptions, type Resolved } from './app-options.js';
import { appTarget, instanceOf, type AppTargetParams } from './app-target.js';
import { persist } from './clean-up.js';
import { stopAndRemove } from './container-calls.js';
import { noSideEffects } from './step-kinds.js';

export const REGISTRIES: readonly RegistryName[] = ['docker-hub', 'quay'];

/**
 * Every value of `env` is a secret as far as opledger knows: a deploy has no per-variable
 * sensitivity list, and whichever variable holds a password, a token or a connection string, it
 * must not reach the event store. So `env` is declared sensitive (events show
 * `env: '[redacted]'`), and the parsed params add `envNames`, the variable names, readable for
 * the audit. (`appConfigure` is the operation that records plain values, with `set`.)
 */
export const appDeployParams = z
  .object({
    ...appTarget,
    image: z.string().min(1),
    previousImage: z.string().min(1).optional(),
    /** Commands run in order in a one-off container before the release (e.g. migrations). */
    beforeRelease: z.array(z.string().min(1)).default([]),
    strictHealthCheck: z.boolean().default(false),
    healthCheckTimeoutSeconds: z.number().int().min(0).max(900).default(180),
    /** As many containers as the release it replaces by default (1 for a first release). */
    containerCount: z.number().int().min(1).max(100).optional(),
    /** false: a service without an endpoint (worker): old containers stop before new ones start. */
    endpoint: z.boolean().default(true),
    /** Without an endpoint, the containers of the running release (there is no target list). */
    previousContainers: z.array(z.string().min(1)).default([]),
    /** Environment of the new containers; by default that of the release it replaces. */
    env: ownKeyRecord(z.string(), z.string()).optional(),
  })
  .transform((p) => ({
    ...p,
    ...(p.env !== undefined ? { envNames: Object.keys(p.env).sort() } : {}),
  }));

export type AppDeployParams = z.output<typeof appDeployParams>;

/** What the deploy steps read: a deploy's params, or those of an app rollback. */
export interface ReleaseParams extends AppTargetParams {
  image: string;
  beforeRelease?: string[] | undefined;
  strictHealthCheck: boolean;
  healthCheckTimeoutSeconds: number;
  /** Undefined: as many containers as the release being replaced has (at least 1). */
  containerCount?: number | undefined;
  endpoint: boolean;
  previousContainers: string[];
  env?: Record<string, string> | undefined;
}

const SENSITIVE = ['env'];
/**
 * Env values masked in error messages. Shorter values (`1`, `on`, `80`) are left alone: masking
 * them would garble every number and word of an error, and such values are no secrets.
 */
const MASKED_MIN_LENGTH = 4;

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

/**
 * The steps of a release switch to `image`. `beforeRelease: false` leaves the before_release
 * step out of the definition altogether (an app rollback runs no migrations).
 */
export const deploySteps = <P extends ReleaseParams>(
  r: Resolved,
  options: { beforeRelease?: boolean } = {},
) => {
  // Each step that only one of the two kinds of service needs is left out of the other's plan.
  const withEndpoint = (p: P) => p.endpoint;
  // A worker's first release has no old containers to stop first.
  const stopsFirst = (p: P) => !p.endpoint && p.previousContainers.length > 0;
  const beforeRelease = step<P, { ran: string[] }>({
    name: 'before_release',
    // Commands such as database migrations cannot be taken back: say so, never pretend.
    kind: 'irreversible',
    // No commands, no step: a deploy without them has nothing irreversible to report.
    when: (p) => (p.beforeRelease ?? []).length > 0,
    retry: r.retry,
    run: async ({ params: p, operationId, signal, log }) => {
      const runner = `${p.app}-release-runner`;
      await r.infra.compute.ensureInstance({ instanceId: runner }, { signal });
      const registry = await pullAnywhere(r, runner, p.image, signal);
      log(`Pulled ${p.image} from ${registry} for the one-off container`);
      const ran: string[] = [];
      for (const [i, command] of (p.beforeRelease ?? []).entries()) {
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
  });
  const stopFirst = stopContainersStep<P>(
    r,
    'stop old containers (no endpoint)',
    async (ctx) => recordExisting(r, ctx.params.app, ctx.params.previousContainers, ctx.signal),
    // What it found is lost with its run: after a crash mid-step it cannot be known.
    () => undefined,
    stopsFirst,
  );
  const start = startContainersStep<P>(
    r,
    'start new containers',
    async (ctx) => {
      const p = ctx.params;
      if (p.env !== undefined) {
        const names = Object.keys(p.env).sort();
        ctx.log(
          `Environment of the new containers: ${names.length > 0 ? names.join(', ') : '(empty)'} (values not recorded)`,
        );
      }
      let env = p.env;
      let replaced = 1;
      if (p.endpoint) {
        if (env === undefined || p.containerCount === undefined) {
          const { specs } = await currentRelease(r, ctx);
          env ??= specs[0]?.env ?? {};
          replaced = specs.length;
        }
      } else {
        // The old containers are gone by now: their env comes from their sealed record.
        const old = recordedOld(ctx.outputs, stopFirst);
        const [first] = old;
        env ??= first ? await openEnv(r, p.app, first, ctx.signal) : {};
        replaced = old.length;
      }
      return { image: p.image, env, count: p.containerCount ?? Math.max(1, replaced) };
    },
    { endpointMode: withEndpoint },
  );
  return [
    ...(options.beforeRelease === false ? [] : [beforeRelease]),
    noSideEffects<P, { registry: string }>(r, {
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
    stopFirst,
    ...replaceAllAfter(r, start, {
      registerName: 'register new targets',
      health: (p) => ({ strict: p.strictHealthCheck, timeoutSeconds: p.healthCheckTimeoutSeconds }),
      when: withEndpoint,
    }),
  ];
};

/**
 * Zero-downtime deploy: the old release keeps serving until the new one is healthy and
 * registered. `stop old containers` is last and undoable (the containers are started again from
 * their recorded specs, env sealed; the old image is still on the instance). The values of `env`
 * never reach events, logs or reports; a process that recovers a deploy that had not started
 * cannot run it, as its env is not recorded (see secret-params.ts), and a rollback needs none.
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
    sensitive: SENSITIVE,
    steps: deploySteps<AppDeployParams>(r).map(
      protectSecrets<AppDeployParams>({
        names: SENSITIVE,
        what: 'env values',
        values: (p) => recordValues(p.env, MASKED_MIN_LENGTH),
      }),
    ),
  });
};
