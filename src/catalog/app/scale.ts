import { z } from 'zod';
import { defineOperation, type OperationDefinition } from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
import {
  runningRelease,
  deregisterStep,
  healthCheckStep,
  registerStep,
  startContainersStep,
  stopRecordedStep,
  type StartedOutput,
} from './release-steps.js';
import { resolveOptions, type AppCatalogOptions } from './app-options.js';
import { appTarget } from './app-target.js';

export const appScaleParams = z.object({
  ...appTarget,
  containerCount: z.number().int().min(1).max(100),
  healthCheckTimeoutSeconds: z.number().int().min(0).max(900).default(180),
});
export type AppScaleParams = z.output<typeof appScaleParams>;

const START = 'start added containers';
const DEREGISTER = 'deregister removed targets';

/**
 * Scale the container count without downtime: added containers are checked and registered;
 * removed ones (the newest first) are deregistered with the drain, then stopped.
 */
export const appScale = (
  infra: InfrastructurePort,
  options?: AppCatalogOptions,
): OperationDefinition<AppScaleParams> => {
  const r = resolveOptions(infra, options);
  return defineOperation<AppScaleParams>({
    type: 'app.scale',
    params: appScaleParams,
    steps: [
      startContainersStep<AppScaleParams>(r, START, async (ctx) => {
        const { specs, first } = await runningRelease(r, ctx);
        const count = Math.max(0, ctx.params.containerCount - specs.length);
        ctx.log(`${specs.length} container(s) serve; ${ctx.params.containerCount} wanted`);
        return { image: first.image, env: first.env, count };
      }),
      healthCheckStep<AppScaleParams>(r, START, (p) => ({
        strict: false,
        timeoutSeconds: p.healthCheckTimeoutSeconds,
      })),
      registerStep<AppScaleParams>(r, 'register added targets', START),
      deregisterStep<AppScaleParams>(
        r,
        DEREGISTER,
        (ctx, targets) => {
          const added = (ctx.outputs[START] as StartedOutput | undefined)?.ids ?? [];
          if (added.length > 0) return [];
          return targets.slice(ctx.params.containerCount);
        },
        () => true,
        {
          // The same pick from the targets the register step found (it added none then).
          recorded: (p, outputs) => {
            const added = (outputs[START] as StartedOutput | undefined)?.ids ?? [];
            if (added.length > 0) return [];
            const found = outputs['register added targets'] as { previous: string[] } | undefined;
            return found?.previous.slice(p.containerCount);
          },
        },
      ),
      stopRecordedStep<AppScaleParams>(r, 'stop removed containers', DEREGISTER),
    ],
  });
};
