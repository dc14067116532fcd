import type { Arbitrary } from 'fast-check';
import { fc } from './fast-check.js';
import type { z } from 'zod';
import type {
  appConfigureParams,
  appDeployParams,
  appDeprovisionParams,
  appProvisionParams,
  appRestartParams,
  appRollbackParams,
  appScaleParams,
} from '../catalog/app/index.js';
import type {
  databaseBackupParams,
  databaseDeprovisionParams,
  databaseProvisionParams,
  databaseRedeployParams,
  databaseResizeVolumeParams,
  databaseRestartParams,
} from '../catalog/database/index.js';
import type { environmentParams } from '../catalog/environment/index.js';
import type { sshSessionParams } from '../catalog/ssh/index.js';
import type { ResourceRef } from '../domain/events.js';
import { ENVIRONMENT_RESOURCE } from '../domain/stream-names.js';

/** Where a generated request points: what params may have to agree with. */
export interface RequestTarget {
  environment: string;
  resource: ResourceRef;
}

/** How to generate the params of one operation type. */
export interface OperationParamsSpec<P = Record<string, unknown>> {
  /** The resource type requests of this operation target; 'app' by default. */
  resourceType?: string;
  params: Arbitrary<P>;
  /** Makes params agree with the target (an app's name is its resource handle); shrink-safe. */
  bind?: (params: P, target: RequestTarget) => P;
}

// Type-only imports: the catalog's schemas check these arbitraries at compile time, and nothing
// of the catalog is loaded at run time.
type In<S extends z.ZodType> = z.input<S>;

const id = (prefix: string) =>
  fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,11}$/).map((s) => `${prefix}${s}`);
const image = fc
  .tuple(fc.constantFrom('web', 'worker', 'postgres', 'redis', 'api'), fc.nat({ max: 30 }))
  .map(([name, tag]) => `${name}:${tag === 0 ? 'latest' : `v${tag}`}`);
const instanceSize = fc.constantFrom('small', 'standard', 'large');
const command = fc.oneof(
  fc.constantFrom('rake db:migrate', 'npm run migrate', 'bin/release'),
  fc.string({ minLength: 1, maxLength: 40 }),
);
const env = fc.dictionary(
  fc.stringMatching(/^[A-Z][A-Z0-9_]{0,15}$/),
  fc.string({ maxLength: 20 }),
  { maxKeys: 3 },
);
const healthCheckTimeoutSeconds = fc.integer({ min: 0, max: 900 });
const envName = fc.stringMatching(/^[A-Z][A-Z0-9_]{0,15}$/);

/**
 * A configure's params, consistent as its schema wants them: something to set or unset, no
 * name both set and unset, and only names being set marked sensitive.
 */
const configureParams: Arbitrary<In<typeof appConfigureParams>> = fc
  .record(
    {
      app: fc.constant('app'),
      instanceId: id('i-'),
      endpointId: id('ep-'),
      set: fc.dictionary(envName, fc.string({ maxLength: 20 }), { maxKeys: 3 }),
      unset: fc.uniqueArray(envName, { maxLength: 3 }),
      sensitive: fc.array(fc.boolean(), { maxLength: 3 }),
      healthCheckTimeoutSeconds,
      strictHealthCheck: fc.boolean(),
    },
    { requiredKeys: ['app', 'set', 'unset', 'sensitive'] },
  )
  .map(({ set, unset, sensitive, ...rest }) => {
    const names = Object.keys(set);
    const unsetOnly = unset.filter((n) => !names.includes(n));
    const nothing = names.length === 0 && unsetOnly.length === 0;
    return {
      ...rest,
      set: nothing ? { FEATURE_X: 'on' } : set,
      unset: unsetOnly,
      sensitive: names.filter((_, i) => sensitive[i] === true),
    };
  });

/** The optional keys of a record are sometimes absent, never `undefined`. */
const partial = <T extends Record<string, unknown>>(
  model: { [K in keyof T]: Arbitrary<T[K]> },
  requiredKeys: (keyof T)[],
): Arbitrary<T> => fc.record(model, { requiredKeys }) as unknown as Arbitrary<T>;

const spec = <P extends Record<string, unknown>>(s: OperationParamsSpec<P>) =>
  s as unknown as OperationParamsSpec;

const appTarget = {
  app: fc.constant('app'),
  instanceId: id('i-'),
  endpointId: id('ep-'),
};
const bindApp = <P extends { app: string }>(p: P, t: RequestTarget): P => ({
  ...p,
  app: t.resource.handle,
});

const databaseRef = { databaseId: fc.constant('db'), volumeId: id('v-'), containerId: id('c-') };
const bindDatabase = <P extends { databaseId: string }>(p: P, t: RequestTarget): P => ({
  ...p,
  databaseId: t.resource.handle,
});
const ref = ['databaseId', 'volumeId', 'containerId'] as const;

/**
 * Params arbitraries for the catalog's operation types, valid against their schemas, with the
 * app or database named after the request's resource handle. Pass the whole map (or part of it)
 * to `operationRequestArbitrary`.
 */
export const catalogParamsArbitraries = {
  'app.deploy': spec<In<typeof appDeployParams>>({
    params: partial(
      {
        ...appTarget,
        image,
        previousImage: image,
        beforeRelease: fc.array(command, { maxLength: 3 }),
        strictHealthCheck: fc.boolean(),
        healthCheckTimeoutSeconds,
        containerCount: fc.integer({ min: 1, max: 100 }),
        endpoint: fc.boolean(),
        previousContainers: fc.array(id('c-'), { maxLength: 3 }),
        env,
      },
      ['app', 'image'],
    ),
    bind: bindApp,
  }),
  'app.restart': spec<In<typeof appRestartParams>>({
    params: partial({ ...appTarget, healthCheckTimeoutSeconds, strictHealthCheck: fc.boolean() }, [
      'app',
    ]),
    bind: bindApp,
  }),
  'app.scale': spec<In<typeof appScaleParams>>({
    params: partial(
      { ...appTarget, containerCount: fc.integer({ min: 1, max: 100 }), healthCheckTimeoutSeconds },
      ['app', 'containerCount'],
    ),
    bind: bindApp,
  }),
  'app.provision': spec<In<typeof appProvisionParams>>({
    params: partial({ ...appTarget, instanceSize, endpoint: fc.boolean() }, ['app']),
    bind: bindApp,
  }),
  'app.configure': spec<In<typeof appConfigureParams>>({ params: configureParams, bind: bindApp }),
  'app.rollback': spec<In<typeof appRollbackParams>>({
    params: partial(
      {
        ...appTarget,
        previousImage: image,
        strictHealthCheck: fc.boolean(),
        healthCheckTimeoutSeconds,
        containerCount: fc.integer({ min: 1, max: 100 }),
        endpoint: fc.boolean(),
        previousContainers: fc.array(id('c-'), { maxLength: 3 }),
      },
      ['app', 'previousImage'],
    ),
    bind: bindApp,
  }),
  'app.deprovision': spec<In<typeof appDeprovisionParams>>({
    params: partial(
      {
        ...appTarget,
        endpoint: fc.boolean(),
        containers: fc.array(id('c-'), { maxLength: 3 }),
        terminateInstance: fc.boolean(),
      },
      ['app'],
    ),
    bind: bindApp,
  }),
  'database.redeploy': spec<In<typeof databaseRedeployParams>>({
    resourceType: 'database',
    params: partial(
      { ...databaseRef, targetInstanceId: id('i-'), targetInstanceSize: instanceSize, image },
      [...ref, 'targetInstanceId'],
    ),
    bind: bindDatabase,
  }),
  'database.resize_volume': spec<In<typeof databaseResizeVolumeParams>>({
    resourceType: 'database',
    params: partial({ ...databaseRef, sizeGb: fc.integer({ min: 1, max: 16_384 }) }, [
      ...ref,
      'sizeGb',
    ]),
    bind: bindDatabase,
  }),
  'database.restart': spec<In<typeof databaseRestartParams>>({
    resourceType: 'database',
    params: partial(databaseRef, [...ref]),
    bind: bindDatabase,
  }),
  'database.provision': spec<In<typeof databaseProvisionParams>>({
    resourceType: 'database',
    params: partial(
      {
        ...databaseRef,
        instanceId: id('i-'),
        instanceSize,
        image,
        sizeGb: fc.integer({ min: 1, max: 16_384 }),
      },
      [...ref, 'instanceId', 'image', 'sizeGb'],
    ),
    bind: bindDatabase,
  }),
  'database.backup': spec<In<typeof databaseBackupParams>>({
    resourceType: 'database',
    params: partial(
      { databaseId: fc.constant('db'), bucket: id('b-'), key: fc.string({ minLength: 1 }) },
      ['databaseId'],
    ),
    bind: bindDatabase,
  }),
  'database.deprovision': spec<In<typeof databaseDeprovisionParams>>({
    resourceType: 'database',
    params: partial(databaseRef, [...ref]),
    bind: bindDatabase,
  }),
  'environment.provision': spec<In<typeof environmentParams>>({
    resourceType: ENVIRONMENT_RESOURCE,
    params: partial({ environment: fc.constant('env'), bucket: id('b-') }, ['environment']),
    bind: (p, t) => ({ ...p, environment: t.environment }),
  }),
  'environment.deprovision': spec<In<typeof environmentParams>>({
    resourceType: ENVIRONMENT_RESOURCE,
    params: partial({ environment: fc.constant('env'), bucket: id('b-') }, ['environment']),
    bind: (p, t) => ({ ...p, environment: t.environment }),
  }),
  'ssh.session': spec<In<typeof sshSessionParams>>({
    params: partial(
      { containerId: id('c-'), command: fc.array(fc.string({ minLength: 1 }), { maxLength: 3 }) },
      ['containerId'],
    ),
  }),
} satisfies Record<string, OperationParamsSpec>;

export type CatalogOperationType = keyof typeof catalogParamsArbitraries;
