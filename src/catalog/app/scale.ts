import { z } from 'zod';
import {
  defineOperation,
  outputOf,
  type OperationDefinition,
} from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
import {
  runningRelease,
  deregisterStep,
  healthCheckStep,
  registerStep,
  startContainersStep,
  startedIds,
  stopRecordedStep,
} from './release-steps.js';
import { resolveOptions, type AppCatalogOptions } from './app-options.js';
import { appTarget } from './app-target.js';

export const appScaleParams = z.object({
  ...appTarget,
  containerCount: z.number().int().min(1).max(100),
  healthCheckTimeoutSeconds: z.number().int().min(0).max(900).default(180),
});
export type AppScaleParams = z.output<typeof appScaleParams>;

/**
 * Scale the container count without downtime: added containers are checked and registered;
 * removed ones (the newest first) are deregistered with the drain, then stopped.
 */
export const appScale = (
  infra: InfrastructurePort,
  options?: AppCatalogOptions,
): OperationDefinition<AppScaleParams> => {
  const r = resolveOptions(infra, options);
  const start = startContainersStep<AppScaleParams>(r, 'start added containers', async (ctx) => {
    const { specs, first } = await runningRelease(r, ctx);
    const count = Math.max(0, ctx.params.containerCount - specs.length);
    ctx.log(`${specs.length} container(s) serve; ${ctx.params.containerCount} wanted`);
    return { image: first.image, env: first.env, count };
  });
  const register = registerStep<AppScaleParams>(r, 'register added targets', start);
  const deregister = deregisterStep<AppScaleParams>(
    r,
    'deregister removed targets',
    (ctx, targets) => {
      if (startedIds(ctx.outputs, start).length > 0) return [];
      return targets.slice(ctx.params.containerCount);
    },
    () => true,
    {
      // The same pick from the targets the register step found (it added none then).
      recorded: (p, outputs) => {
        if (startedIds(outputs, start).length > 0) return [];
        return outputOf(outputs, register)?.previous.slice(p.containerCount);
      },
    },
  );
  return defineOperation<AppScaleParams>({
    type: 'app.scale',
    params: appScaleParams,
    steps: [
      start,
      healthCheckStep<AppScaleParams>(r, start, (p) => ({
        strict: false,
        timeoutSeconds: p.healthCheckTimeoutSeconds,
      })),
      register,
      deregister,
      stopRecordedStep<AppScaleParams>(r, 'stop removed containers', deregister),
    ],
  });
};
