import { z } from 'zod';
import { defineOperation, type OperationDefinition } from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
import type { ReadModel, ReadOptions } from '../../projections/read-model.js';
import { deploySteps } from './deploy.js';
import { resolveOptions, type AppCatalogOptions } from './app-options.js';
import { appTarget } from './app-target.js';

/**
 * Input `previousImage`: the release to go back to (see `previousRelease` to find it in the read
 * model). The parsed params name it `image`, as a deploy's do: both are releases of the app.
 */
export const appRollbackParams = z
  .object({
    ...appTarget,
    previousImage: z.string().min(1),
    strictHealthCheck: z.boolean().default(false),
    healthCheckTimeoutSeconds: z.number().int().min(0).max(900).default(180),
    /** As many containers as the release being replaced has, by default. */
    containerCount: z.number().int().min(1).max(100).optional(),
    /** false: a service without an endpoint; its running containers in `previousContainers`. */
    endpoint: z.boolean().default(true),
    previousContainers: z.array(z.string().min(1)).default([]),
  })
  .transform(({ previousImage, ...rest }) => ({ ...rest, image: previousImage }));

export type AppRollbackParams = z.output<typeof appRollbackParams>;

/** Operation types whose success sets the app's release to `params.image`. */
export const RELEASE_OPERATION_TYPES: readonly string[] = ['app.deploy', 'app.rollback'];

/**
 * The release before the current one, from the read model: the succeeded deploys and rollbacks
 * of the app, newest first; the newest is the current release (the resource's `release`), the
 * first one with another image is the previous release. Undefined when there is none.
 * After a rollback, the previous release is the one rolled back from.
 */
export const previousRelease = (
  reads: Pick<ReadModel, 'listOperations'>,
  target: { environment: string; app: string },
  options: ReadOptions = {},
): Promise<string | undefined> => {
  // Checked at once, so a wrong argument throws here rather than in a promise nobody awaits.
  if (typeof reads?.listOperations !== 'function' || typeof target?.app !== 'string') {
    throw new TypeError('previousRelease needs a read model and { environment, app }');
  }
  return releaseBefore(reads, target, options);
};

const releaseBefore = async (
  reads: Pick<ReadModel, 'listOperations'>,
  target: { environment: string; app: string },
  options: ReadOptions,
): Promise<string | undefined> => {
  let current: string | undefined;
  for (let offset: number | undefined = 0; offset !== undefined;) {
    const page = await reads.listOperations({
      ...options,
      environment: target.environment,
      resource: { type: 'app', handle: target.app },
      status: 'succeeded',
      limit: 100,
      offset,
    });
    for (const op of page.items) {
      const image = op.params['image'];
      if (!RELEASE_OPERATION_TYPES.includes(op.type) || typeof image !== 'string') continue;
      if (current === undefined) current = image;
      else if (image !== current) return image;
    }
    offset = page.nextOffset;
  }
  return undefined;
};

/**
 * "Rollback to the previous release": a forward, zero-downtime deploy of the previous image,
 * with the deploy's steps and guarantees (health check, register, drain, stop last), without
 * before_release (no migrations run backwards) and keeping the current environment (use
 * `appConfigure` to change it). Its release is the image it deploys.
 */
export const appRollback = (
  infra: InfrastructurePort,
  options?: AppCatalogOptions,
): OperationDefinition<AppRollbackParams> => {
  const r = resolveOptions(infra, options);
  return defineOperation<AppRollbackParams>({
    type: 'app.rollback',
    params: appRollbackParams,
    release: ({ params }) => params.image,
    steps: deploySteps<AppRollbackParams>(r, { beforeRelease: false }),
  });
};
