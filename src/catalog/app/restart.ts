import { z } from 'zod';
import { defineOperation, type OperationDefinition } from '../../domain/operation-definition.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
import {
  runningRelease,
  deregisterStep,
  oldTargetsRecorded,
  healthCheckStep,
  registerStep,
  startContainersStep,
  stopRecordedStep,
  type StartedOutput,
} from './release-steps.js';
import { resolveOptions, type AppCatalogOptions } from './app-options.js';
import { appTarget } from './app-target.js';

export const appRestartParams = z.object({
  ...appTarget,
  healthCheckTimeoutSeconds: z.number().int().min(0).max(900).default(180),
  strictHealthCheck: z.boolean().default(false),
});
export type AppRestartParams = z.output<typeof appRestartParams>;

const START = 'start replacement containers';
const DEREGISTER = 'deregister old targets';

/**
 * Restart without downtime: a replacement for each container is started, checked and registered
 * before the old containers are deregistered (with the drain) and stopped.
 */
export const appRestart = (
  infra: InfrastructurePort,
  options?: AppCatalogOptions,
): OperationDefinition<AppRestartParams> => {
  const r = resolveOptions(infra, options);
  return defineOperation<AppRestartParams>({
    type: 'app.restart',
    params: appRestartParams,
    steps: [
      startContainersStep<AppRestartParams>(r, START, async (ctx) => {
        const { specs, first } = await runningRelease(r, ctx);
        return { image: first.image, env: first.env, count: specs.length };
      }),
      healthCheckStep<AppRestartParams>(r, START, (p) => ({
        strict: p.strictHealthCheck,
        timeoutSeconds: p.healthCheckTimeoutSeconds,
      })),
      registerStep<AppRestartParams>(r, 'register replacement targets', START),
      deregisterStep<AppRestartParams>(
        r,
        DEREGISTER,
        (ctx, targets) => {
          const fresh = (ctx.outputs[START] as StartedOutput | undefined)?.ids ?? [];
          return targets.filter((t) => !fresh.includes(t));
        },
        () => true,
        { recorded: oldTargetsRecorded('register replacement targets', START) },
      ),
      stopRecordedStep<AppRestartParams>(r, 'stop old containers', DEREGISTER),
    ],
  });
};
