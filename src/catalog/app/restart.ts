import { z } from 'zod';
import { defineOperation, type OperationDefinition } from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
import { replaceAllAfter, runningRelease, startContainersStep } from './release-steps.js';
import { resolveOptions, type AppCatalogOptions } from './app-options.js';
import { appTarget } from './app-target.js';

export const appRestartParams = z.object({
  ...appTarget,
  healthCheckTimeoutSeconds: z.number().int().min(0).max(900).default(180),
  strictHealthCheck: z.boolean().default(false),
});
export type AppRestartParams = z.output<typeof appRestartParams>;

/**
 * Restart without downtime: a replacement for each container is started, checked and registered
 * before the old containers are deregistered (with the drain) and stopped.
 */
export const appRestart = (
  infra: InfrastructurePort,
  options?: AppCatalogOptions,
): OperationDefinition<AppRestartParams> => {
  const r = resolveOptions(infra, options);
  const start = startContainersStep<AppRestartParams>(
    r,
    'start replacement containers',
    async (ctx) => {
      const { specs, first } = await runningRelease(r, ctx);
      return { image: first.image, env: first.env, count: specs.length };
    },
  );
  return defineOperation<AppRestartParams>({
    type: 'app.restart',
    params: appRestartParams,
    steps: replaceAllAfter(r, start, {
      registerName: 'register replacement targets',
      health: (p) => ({ strict: p.strictHealthCheck, timeoutSeconds: p.healthCheckTimeoutSeconds }),
    }),
  });
};
