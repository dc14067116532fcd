import { z } from 'zod';
import {
  defineOperation,
  type OperationDefinition,
  type StepDraft,
} from '../../domain/operation-definition.js';
import { REDACTED } from '../../domain/redaction.js';
import type { InfrastructurePort } from '../../adapters/infrastructure/infrastructure-port.js';
import {
  deregisterStep,
  healthCheckStep,
  oldFrom,
  registerStep,
  runningRelease,
  startContainersStep,
  stopContainersStep,
  type StartedOutput,
} from './release-steps.js';
import { appTarget, resolveOptions, type AppCatalogOptions } from './shared.js';

const envName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    'an environment variable name is letters, digits and _, not starting with a digit',
  );

/**
 * Input: `set` (name -> value), `unset` (names) and `sensitive` (names in `set` whose values are
 * secrets). The parsed params move the sensitive values out of `set` into `secrets`, a param
 * the definition declares sensitive: events then show `secrets: '[redacted]'`, while `set`
 * (the plain values), `unset` and the names in `sensitive` stay readable for the audit.
 */
export const appConfigureParams = z
  .object({
    ...appTarget,
    set: z.record(envName, z.string()).default({}),
    unset: z.array(envName).default([]),
    sensitive: z.array(envName).default([]),
    healthCheckTimeoutSeconds: z.number().int().min(0).max(900).default(180),
    strictHealthCheck: z.boolean().default(false),
  })
  .superRefine((p, ctx) => {
    if (Object.keys(p.set).length === 0 && p.unset.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'nothing to configure: give set and/or unset' });
    }
    for (const name of p.unset) {
      if (name in p.set) {
        ctx.addIssue({ code: 'custom', path: ['unset'], message: `${name} is both set and unset` });
      }
    }
    for (const name of p.sensitive) {
      if (!(name in p.set)) {
        ctx.addIssue({
          code: 'custom',
          path: ['sensitive'],
          message: `${name} is marked sensitive but not set`,
        });
      }
    }
  })
  .transform(({ set, sensitive, ...rest }) => {
    const plain: Record<string, string> = {};
    const secrets: Record<string, string> = {};
    for (const [name, value] of Object.entries(set)) {
      (sensitive.includes(name) ? secrets : plain)[name] = value;
    }
    return {
      ...rest,
      set: plain,
      sensitive,
      ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
    };
  });

export type AppConfigureParams = z.output<typeof appConfigureParams>;
type P = AppConfigureParams;

const START = 'start reconfigured containers';
const DEREGISTER = 'deregister old targets';

/** The env of the new release: the running one, with `set` and `secrets` applied, `unset` removed. */
export const configuredEnv = (env: Record<string, string>, p: P): Record<string, string> => {
  const next: Record<string, string> = { ...env, ...p.set, ...(p.secrets ?? {}) };
  for (const name of p.unset) delete next[name];
  return next;
};

/** Secret values of the params; none once params come back from the events (redacted). */
const secretValues = (p: P): string[] =>
  typeof p.secrets === 'object' && p.secrets !== null
    ? Object.values(p.secrets).filter((v) => v.length > 0 && v !== REDACTED)
    : [];

const mask = (text: string, secrets: readonly string[]) =>
  [...secrets]
    .sort((a, b) => b.length - a.length)
    .reduce((t, s) => t.split(s).join(REDACTED), text);

/**
 * The engine masks the values of sensitive params that are strings; the secrets here are nested
 * in a record, so the steps never log them, and errors that quote one (a cloud echoing a
 * request) are masked here, before the engine records them.
 */
const maskingErrors = (draft: StepDraft<P>): StepDraft<P> => ({
  spec: {
    ...draft.spec,
    run: async (ctx) => {
      try {
        return await draft.spec.run(ctx);
      } catch (error) {
        const secrets = secretValues(ctx.params);
        let e: unknown = error;
        for (let depth = 0; e instanceof Error && depth < 10; depth++, e = e.cause) {
          const masked = mask(e.message, secrets);
          if (masked !== e.message) {
            try {
              e.message = masked;
            } catch {
              // A frozen error cannot be masked: replace it by one that says what failed.
              throw new Error(`${e.name}: ${REDACTED} (its message quoted a secret value)`);
            }
          }
        }
        throw error;
      }
    },
  },
});

/**
 * Sets and unsets environment variables: a new set of containers of the same image with the new
 * env replaces the running one without downtime, exactly as a restart does (start, check,
 * register, deregister the old ones with the drain, stop them). Values of `sensitive` variables
 * never reach events, logs or reports; the old containers' env is recorded sealed, so a rollback
 * starts them again with their real env.
 */
export const appConfigure = (
  infra: InfrastructurePort,
  options?: AppCatalogOptions,
): OperationDefinition<P> => {
  const r = resolveOptions(infra, options);
  return defineOperation<P>({
    type: 'app.configure',
    params: appConfigureParams,
    sensitive: ['secrets'],
    steps: [
      startContainersStep<P>(r, START, async (ctx) => {
        const p = ctx.params;
        const { specs, first } = await runningRelease(r, ctx);
        const setNames = [
          ...Object.keys(p.set),
          ...p.sensitive.map((name) => `${name} (sensitive)`),
        ];
        const changes = [
          ...(setNames.length > 0 ? [`setting ${setNames.join(', ')}`] : []),
          ...(p.unset.length > 0 ? [`unsetting ${p.unset.join(', ')}`] : []),
        ];
        ctx.log(`Configuring ${p.app}: ${changes.join('; ')}`);
        return { image: first.image, env: configuredEnv(first.env, p), count: specs.length };
      }),
      healthCheckStep<P>(r, START, (p) => ({
        strict: p.strictHealthCheck,
        timeoutSeconds: p.healthCheckTimeoutSeconds,
      })),
      registerStep<P>(r, 'register reconfigured targets', START),
      deregisterStep<P>(r, DEREGISTER, (ctx, targets) => {
        const fresh = (ctx.outputs[START] as StartedOutput | undefined)?.ids ?? [];
        return targets.filter((t) => !fresh.includes(t));
      }),
      stopContainersStep<P>(r, 'stop old containers', oldFrom(DEREGISTER)),
    ].map(maskingErrors),
  });
};
