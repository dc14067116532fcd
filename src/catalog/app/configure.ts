import { z } from 'zod';
import { defineOperation, type OperationDefinition } from '../../domain/operation-definition.js';
import { ownKeyRecord } from '../../domain/own-key-record.js';
import type { InfrastructurePort } from '../infrastructure-port.js';
import { replaceAllAfter, runningRelease, startContainersStep } from './release-steps.js';
import { protectSecrets, recordValues } from './secret-params.js';
import { resolveOptions, type AppCatalogOptions } from './app-options.js';
import { appTarget } from './app-target.js';

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
    set: ownKeyRecord(envName, z.string()).default({}),
    unset: z.array(envName).default([]),
    sensitive: z.array(envName).default([]),
    healthCheckTimeoutSeconds: z.number().int().min(0).max(900).default(180),
    strictHealthCheck: z.boolean().default(false),
  })
  .superRefine((p, ctx) => {
    if (Object.keys(p.set).length === 0 && p.unset.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'nothing to configure: give set and/or unset' });
    }
    // Own keys only: `in` would find Object.prototype's (`constructor`, `toString`), which are
    // valid variable names too.
    for (const name of p.unset) {
      if (Object.hasOwn(p.set, name)) {
        ctx.addIssue({ code: 'custom', path: ['unset'], message: `${name} is both set and unset` });
      }
    }
    for (const name of p.sensitive) {
      if (!Object.hasOwn(p.set, name)) {
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

const SENSITIVE = ['secrets'];
/** Secrets, masked in error messages whatever their length: the caller said they are secrets. */
const secretValues = (p: P) => recordValues(p.secrets);

/** The env of the new release: the running one, with `set` and `secrets` applied, `unset` removed. */
export const configuredEnv = (env: Record<string, string>, p: P): Record<string, string> => {
  const next: Record<string, string> = { ...env, ...p.set, ...(p.secrets ?? {}) };
  for (const name of p.unset) delete next[name];
  return next;
};

/**
 * Sets and unsets environment variables: a new set of containers of the same image with the new
 * env replaces the running one without downtime, exactly as a restart does (start, check,
 * register, deregister the old ones with the drain, stop them). Values of `sensitive` variables
 * never reach events, logs or reports (see secret-params.ts, also for a recovery, which cannot
 * run a configure whose secrets were redacted); the old containers' env is recorded sealed, so a
 * rollback starts them again with their real env.
 */
export const appConfigure = (
  infra: InfrastructurePort,
  options?: AppCatalogOptions,
): OperationDefinition<P> => {
  const r = resolveOptions(infra, options);
  const start = startContainersStep<P>(r, 'start reconfigured containers', async (ctx) => {
    const p = ctx.params;
    const { specs, first } = await runningRelease(r, ctx);
    const setNames = [...Object.keys(p.set), ...p.sensitive.map((name) => `${name} (sensitive)`)];
    const changes = [
      ...(setNames.length > 0 ? [`setting ${setNames.join(', ')}`] : []),
      ...(p.unset.length > 0 ? [`unsetting ${p.unset.join(', ')}`] : []),
    ];
    ctx.log(`Configuring ${p.app}: ${changes.join('; ')}`);
    return { image: first.image, env: configuredEnv(first.env, p), count: specs.length };
  });
  return defineOperation<P>({
    type: 'app.configure',
    params: appConfigureParams,
    sensitive: SENSITIVE,
    steps: replaceAllAfter(r, start, {
      registerName: 'register reconfigured targets',
      health: (p) => ({ strict: p.strictHealthCheck, timeoutSeconds: p.healthCheckTimeoutSeconds }),
    }).map(protectSecrets<P>({ names: SENSITIVE, what: 'secret values', values: secretValues })),
  });
};
