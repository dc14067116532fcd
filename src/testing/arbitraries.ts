import type { Arbitrary } from 'fast-check';
import { fc } from './fast-check.js';
import type { CloudCall, CloudService, SimulatedCloud } from '../adapters/infrastructure/index.js';
import type { OperationDefinition } from '../domain/operation-definition.js';
import type { OperationRequest } from '../engine/engine.js';
import {
  catalogParamsArbitraries,
  type OperationParamsSpec,
  type RequestTarget,
} from './catalog-params.js';
import { ENVIRONMENT_RESOURCE } from '../domain/stream-names.js';
import { ownValue } from '../domain/own-keys.js';

// ---------------------------------------------------------------------------------------------
// Fault plans for the simulated cloud

const ALL_SERVICES: readonly CloudService[] = [
  'compute',
  'object-storage',
  'load-balancer',
  'registry:docker-hub',
  'registry:quay',
];

/** An outage of one service, in virtual ms after the plan is applied: [from, to). */
export interface CloudOutage {
  service: CloudService;
  from: number;
  to: number;
}

export type CloudCrash =
  /** The instance crashes `at` virtual ms after the plan is applied (no-op if absent then). */
  | { instanceId: string; at: number }
  /**
   * The instance crashes on the `occurrence`-th call of `call` made after the plan is applied:
   * 'before' the call runs (it meets the crash) or 'after' it took effect.
   */
  | { instanceId: string; call: CloudCall; occurrence: number; timing: 'before' | 'after' };

/**
 * Faults for a simulated cloud as plain data, relative to the moment they are applied: a
 * counterexample prints readably and replays on any cloud with `applyCloudFaultPlan`.
 */
export interface CloudFaultPlan {
  outages: CloudOutage[];
  /** Probability that a call to the service fails with ERROR_RATE (seeded by the cloud). */
  errorRates: Partial<Record<CloudService, number>>;
  crashes: CloudCrash[];
}

export interface CloudCrashOptions {
  /** Instances that may crash at a virtual time in [0, horizonMs]. */
  atTime?: readonly string[];
  /** Where timed crashes fall; the plan's `horizonMs` by default. */
  horizonMs?: number;
  /** Instances that may crash on the Nth call of one of `calls`. */
  onCall?: {
    instances: readonly string[];
    calls: readonly CloudCall[];
    /** Default both. */
    timings?: readonly ('before' | 'after')[];
    /** N is drawn in [1, maxOccurrence]; default 1 (the next such call). */
    maxOccurrence?: number;
  };
  /** At most this many crashes in one plan; default 1. */
  max?: number;
}

export interface CloudFaultPlanOptions {
  /** Services that may have outages and error rates; all five by default. */
  services?: readonly CloudService[];
  /** Outages start in [0, horizonMs] virtual ms after the plan is applied; default 300 000. */
  horizonMs?: number;
  /** Times and lengths are multiples of this (1 000: whole seconds); default 1. */
  stepMs?: number;
  /** Default 3. */
  maxOutages?: number;
  /** Default `stepMs`. */
  minOutageMs?: number;
  /** Default 60 000. */
  maxOutageMs?: number;
  /** How many services get an error rate, at most; default 2. */
  maxErrorRates?: number;
  /** Default 0. */
  minErrorRate?: number;
  /** Default 0.3. */
  maxErrorRate?: number;
  /** No crashes unless instances are named here. */
  crashes?: CloudCrashOptions;
}

const requireRange = (what: string, min: number, max: number) => {
  if (!(Number.isFinite(min) && Number.isFinite(max) && min <= max)) {
    throw new RangeError(
      `cloudFaultPlanArbitrary: ${what} must satisfy min <= max, got ${min} and ${max}`,
    );
  }
};

/**
 * Generates a plan of cloud faults: outage windows per service, error rates per service, and
 * instance crashes at a time or on the Nth call of a port call. Everything shrinks towards "no
 * fault", shorter and earlier windows, lower rates: a failing property reports the fewest faults
 * that still break it. Install a plan with `applyCloudFaultPlan(cloud, plan)`.
 */
export const cloudFaultPlanArbitrary = (
  options: CloudFaultPlanOptions = {},
): Arbitrary<CloudFaultPlan> => {
  const services = options.services ?? ALL_SERVICES;
  const step = options.stepMs ?? 1;
  const horizon = options.horizonMs ?? 300_000;
  const minOutage = options.minOutageMs ?? step;
  const maxOutage = options.maxOutageMs ?? 60_000;
  const minRate = options.minErrorRate ?? 0;
  const maxRate = options.maxErrorRate ?? 0.3;
  if (!(Number.isInteger(step) && step >= 1)) {
    throw new RangeError(`cloudFaultPlanArbitrary: stepMs must be a positive integer, got ${step}`);
  }
  requireRange('the horizon', 0, horizon);
  requireRange('the outage length', Math.max(1, minOutage), maxOutage);
  requireRange('the error rate', minRate, maxRate);
  if (minRate < 0 || maxRate > 1) {
    throw new RangeError(`cloudFaultPlanArbitrary: error rates must lie in [0, 1]`);
  }
  /** A multiple of `step` in [min, max], shrinking towards min. */
  const ms = (min: number, max: number) =>
    fc
      .integer({
        min: Math.ceil(min / step),
        max: Math.max(Math.ceil(min / step), Math.floor(max / step)),
      })
      .map((n) => n * step);
  const service = fc.constantFrom(...services);
  const outages: Arbitrary<CloudOutage[]> =
    services.length === 0 || (options.maxOutages ?? 3) === 0
      ? fc.constant([])
      : fc.array(
          fc
            .record({ service, from: ms(0, horizon), length: ms(minOutage, maxOutage) })
            .map(({ service: s, from, length }) => ({ service: s, from, to: from + length })),
          { maxLength: options.maxOutages ?? 3 },
        );
  const errorRates: Arbitrary<Partial<Record<CloudService, number>>> =
    services.length === 0 || (options.maxErrorRates ?? 2) === 0
      ? fc.constant({})
      : fc
          .array(
            fc.record({ service, rate: fc.double({ min: minRate, max: maxRate, noNaN: true }) }),
            { maxLength: options.maxErrorRates ?? 2 },
          )
          // Later entries win, as successive `faults.errorRate` calls would.
          .map((rates) => Object.fromEntries(rates.map((r) => [r.service, r.rate])));
  return fc.record({
    outages,
    errorRates,
    crashes: crashesArbitrary(options.crashes, horizon, ms),
  });
};

const crashesArbitrary = (
  options: CloudCrashOptions | undefined,
  horizon: number,
  ms: (min: number, max: number) => Arbitrary<number>,
): Arbitrary<CloudCrash[]> => {
  const kinds: Arbitrary<CloudCrash>[] = [];
  if (options?.atTime?.length) {
    kinds.push(
      fc.record({
        instanceId: fc.constantFrom(...options.atTime),
        at: ms(0, options.horizonMs ?? horizon),
      }),
    );
  }
  const onCall = options?.onCall;
  if (onCall && onCall.instances.length > 0 && onCall.calls.length > 0) {
    const timings = onCall.timings ?? ['before', 'after'];
    if (timings.length === 0)
      throw new RangeError('cloudFaultPlanArbitrary: crashes.onCall.timings is empty');
    kinds.push(
      fc.record({
        instanceId: fc.constantFrom(...onCall.instances),
        call: fc.constantFrom(...onCall.calls),
        occurrence: fc.integer({ min: 1, max: Math.max(1, onCall.maxOccurrence ?? 1) }),
        timing: fc.constantFrom(...timings),
      }),
    );
  }
  const max = options?.max ?? 1;
  if (kinds.length === 0 || max <= 0) return fc.constant([]);
  // Most plans crash something (as fc.option does): crashes are the faults that matter most.
  return fc
    .option(fc.array(fc.oneof(...kinds), { minLength: 1, maxLength: max }), { nil: undefined })
    .map((crashes) => crashes ?? []);
};

/**
 * Installs a plan on a simulated cloud: times are virtual ms from the cloud's clock now, call
 * occurrences count the calls made from now on. Call it right before starting the operation.
 */
export const applyCloudFaultPlan = (
  cloud: Pick<SimulatedCloud, 'clock' | 'faults' | 'callCounts'>,
  plan: CloudFaultPlan,
): void => {
  const t0 = cloud.clock.now().getTime();
  const counts = cloud.callCounts();
  for (const o of plan.outages) {
    cloud.faults.outage(o.service, { from: t0 + o.from, to: t0 + o.to });
  }
  for (const [service, rate] of Object.entries(plan.errorRates) as [CloudService, number][]) {
    cloud.faults.errorRate(service, rate);
  }
  for (const c of plan.crashes) {
    if ('at' in c) {
      cloud.faults.crashInstance(c.instanceId, { at: t0 + c.at });
    } else {
      cloud.faults.crashInstanceOnCall(c.instanceId, {
        call: c.call,
        occurrence: (counts[c.call] ?? 0) + c.occurrence,
        timing: c.timing,
      });
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Operation requests

type ParamsArbitrary = Arbitrary<Record<string, unknown>>;
type Choice = readonly string[] | Arbitrary<string>;

export interface OperationRequestOptions {
  /** Environment handles; default short lowercase handles. */
  environments?: Choice;
  /** Resource handles; default short lowercase handles. Environment operations use the environment. */
  handles?: Choice;
  /** Users; default readable addresses such as `ada@example.com` (pass `fc.emailAddress()` for odd ones). */
  users?: Choice;
  /** Default 'sometimes'. Keys are UUIDs: start each run on a fresh store, or keys may repeat. */
  idempotencyKeys?: 'never' | 'sometimes' | 'always';
  /**
   * Params for operation types of the definitions passed in: used before the catalog's ones
   * (`catalogParamsArbitraries`), which cover the catalog's own types.
   */
  params?: Readonly<Record<string, ParamsArbitrary | OperationParamsSpec>>;
}

/** Lowercase handles such as `web`, `db-2`: valid everywhere a handle goes, short when shrunk. */
export const handleArbitrary = (): Arbitrary<string> => fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);

/** Readable email addresses: `ada@example.com`, `b7@example.org`. */
export const userArbitrary = (): Arbitrary<string> =>
  fc
    .tuple(
      fc.stringMatching(/^[a-z][a-z0-9]{0,9}$/),
      fc.constantFrom('example.com', 'example.org', 'example.net'),
    )
    .map(([name, domain]) => `${name}@${domain}`);

const choice = (c: Choice | undefined, fallback: Arbitrary<string>) =>
  c === undefined
    ? fallback
    : Array.isArray(c)
      ? fc.constantFrom(...(c as string[]))
      : (c as Arbitrary<string>);

const isArbitrary = (p: ParamsArbitrary | OperationParamsSpec): p is ParamsArbitrary =>
  typeof (p as ParamsArbitrary).generate === 'function';

// Definitions differ in their params type; only their type and schema are read.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDefinition = OperationDefinition<any>;
type ParamsSource = Readonly<Record<string, ParamsArbitrary | OperationParamsSpec>>;

const specsOf = (
  source: ParamsSource | readonly AnyDefinition[],
  extra: ParamsSource = {},
): [string, OperationParamsSpec][] => {
  const toSpec = (p: ParamsArbitrary | OperationParamsSpec): OperationParamsSpec =>
    isArbitrary(p) ? { params: p } : p;
  if (!Array.isArray(source)) {
    return Object.entries(source as ParamsSource).map(([type, p]) => [type, toSpec(p)]);
  }
  const catalog: ParamsSource = catalogParamsArbitraries;
  return (source as readonly AnyDefinition[]).map((def) => {
    // Own keys only: a type named `constructor` or `toString` is no key of either.
    const given = ownValue(extra, def.type) ?? ownValue(catalog, def.type);
    if (given) return [def.type, toSpec(given)];
    if (!def.params) return [def.type, { params: fc.constant({}) }];
    throw new TypeError(
      `operationRequestArbitrary: operation type '${def.type}' validates its params and no arbitrary generates them: pass one in options.params['${def.type}']`,
    );
  });
};

/**
 * Generates requests for `engine.start`: a type, an environment, a resource of the type the
 * operation acts on, a user, params from the type's params arbitrary, and sometimes an
 * idempotency key. Give it a map of operation type to params arbitrary (or to an
 * `OperationParamsSpec`, which names the resource type and ties params to the target, as
 * `catalogParamsArbitraries` does), or the definitions an engine runs: the catalog's types are
 * covered, others take `options.params`, and a definition without a params schema gets `{}`.
 * Nothing is chained: every part shrinks on its own, towards the first type given.
 */
export const operationRequestArbitrary = (
  source: ParamsSource | readonly AnyDefinition[],
  options: OperationRequestOptions = {},
): Arbitrary<OperationRequest> => {
  const specs = specsOf(source, options.params);
  if (specs.length === 0) {
    throw new RangeError('operationRequestArbitrary: no operation type given');
  }
  const environments = choice(options.environments, handleArbitrary());
  const handles = choice(options.handles, handleArbitrary());
  const users = choice(options.users, userArbitrary());
  const keyMode = options.idempotencyKeys ?? 'sometimes';
  const key: Arbitrary<string | undefined> =
    keyMode === 'never'
      ? fc.constant(undefined)
      : keyMode === 'always'
        ? fc.uuid()
        : fc.option(fc.uuid(), { nil: undefined });
  return fc.oneof(
    ...specs.map(([type, spec]) =>
      fc
        .record({
          environment: environments,
          handle: handles,
          user: users,
          key,
          params: spec.params,
        })
        .map(({ environment, handle, user, key: idempotencyKey, params }): OperationRequest => {
          const resourceType = spec.resourceType ?? 'app';
          const target: RequestTarget = {
            environment,
            resource: {
              type: resourceType,
              // An environment operation targets the environment itself.
              handle: resourceType === ENVIRONMENT_RESOURCE ? environment : handle,
            },
          };
          return {
            type,
            ...target,
            user,
            params: spec.bind ? spec.bind(params, target) : params,
            ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
          };
        }),
    ),
  );
};

export { catalogParamsArbitraries, type OperationParamsSpec, type RequestTarget };
