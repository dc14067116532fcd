import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CloudServiceError,
  createSimulatedCloud,
  type CloudCall,
  type CloudService,
  type SimulatedCloud,
} from '../../src/adapters/infrastructure/index.js';
import * as catalog from '../../src/catalog/index.js';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  type OperationDefinition,
} from '../../src/index.js';
import {
  applyCloudFaultPlan,
  catalogParamsArbitraries,
  cloudFaultPlanArbitrary,
  createSequentialIds,
  createVirtualClock,
  faultPlanArbitrary,
  operationRequestArbitrary,
  type CloudFaultPlan,
  type VirtualClock,
} from '../../src/testing/index.js';
import { z } from 'zod';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDefinition = OperationDefinition<any>;

/**
 * Every operation definition the catalog exports, found by calling its factories: a new catalog
 * operation without params arbitraries fails the tests below instead of going unnoticed.
 */
const catalogDefinitions = (cloud: SimulatedCloud): AnyDefinition[] =>
  Object.values(catalog).flatMap((value) => {
    if (typeof value !== 'function') return [];
    try {
      const made = (value as (infra: SimulatedCloud) => unknown)(cloud);
      const def = made as Partial<AnyDefinition> | undefined;
      return typeof def?.type === 'string' && Array.isArray(def.steps)
        ? [def as AnyDefinition]
        : [];
    } catch {
      return []; // error classes and helpers
    }
  });

const SERVICES: CloudService[] = [
  'compute',
  'object-storage',
  'load-balancer',
  'registry:docker-hub',
  'registry:quay',
];

describe('operationRequestArbitrary', () => {
  it('covers every operation type of the catalog', () => {
    const types = catalogDefinitions(createSimulatedCloud({ seed: 1 })).map((d) => d.type);
    expect(types.length).toBeGreaterThanOrEqual(12);
    expect(Object.keys(catalogParamsArbitraries).sort()).toEqual([...types].sort());
  });

  it('generates requests a real engine running the catalog accepts (200 runs)', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        operationRequestArbitrary(catalogDefinitions(createSimulatedCloud({ seed: 1 }))),
        async (request) => {
          const clock = createVirtualClock();
          const cloud = createSimulatedCloud({ seed: 7, clock });
          const engine = createEngine({
            store: createInMemoryEventStore(),
            operations: catalogDefinitions(cloud),
            clock,
            ids: createSequentialIds('op-'),
          });
          // Validation happens in start: it throws InvalidRequestError or InvalidParamsError.
          const handle = await engine.start(request);
          const result = await handle.result;
          // On an empty cloud most fail, operationally: that is not what is checked here.
          expect(['succeeded', 'failed']).toContain(result.status);
          seen.add(request.type);
          // Params name the resource they act on.
          const p = request.params as Record<string, unknown>;
          if (request.resource.type === 'app' && 'app' in p) {
            expect(p['app']).toBe(request.resource.handle);
          }
          if (request.resource.type === 'database' && 'databaseId' in p) {
            expect(p['databaseId']).toBe(request.resource.handle);
          }
          if (request.resource.type === 'environment') {
            expect(request.resource.handle).toBe(request.environment);
            expect(p['environment']).toBe(request.environment);
          }
        },
      ),
      { numRuns: 200 },
    );
    expect([...seen].sort()).toEqual(Object.keys(catalogParamsArbitraries).sort());
  });

  it.each(Object.keys(catalogParamsArbitraries))(
    'generates %s params its schema accepts, edge values included (1000 runs)',
    async (type) => {
      const def = catalogDefinitions(createSimulatedCloud({ seed: 1 })).find(
        (d) => d.type === type,
      );
      const arb = operationRequestArbitrary([def!]);
      await fc.assert(
        fc.asyncProperty(arb, async (request) => {
          const validated = await def!.params!['~standard'].validate(request.params);
          expect(validated.issues).toBeUndefined();
        }),
        { numRuns: 1000 },
      );
    },
  );

  it('takes a map of params arbitraries, and the targets, users and keys asked for', () => {
    const arb = operationRequestArbitrary(
      { 'report.send': fc.record({ to: fc.constantFrom('a', 'b') }) },
      {
        environments: ['staging'],
        handles: fc.constant('mailer'),
        users: ['ada@example.com'],
        idempotencyKeys: 'always',
      },
    );
    for (const r of fc.sample(arb, { numRuns: 50, seed: 1 })) {
      expect(r).toMatchObject({
        type: 'report.send',
        environment: 'staging',
        resource: { type: 'app', handle: 'mailer' },
        user: 'ada@example.com',
      });
      expect(['a', 'b']).toContain(r.params?.['to']);
      expect(r.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    }
    const never = operationRequestArbitrary({ x: fc.constant({}) }, { idempotencyKeys: 'never' });
    expect(fc.sample(never, { numRuns: 50, seed: 1 }).every((r) => !('idempotencyKey' in r))).toBe(
      true,
    );
  });

  it('takes definitions: {} for one without a schema, options.params for others, else a clear error', () => {
    const noSchema = defineOperation({
      type: 'ping',
      steps: [step({ name: 'ping', kind: 'no_side_effects', run: () => null })],
    });
    const withSchema = defineOperation({
      type: 'greet',
      params: z.object({ name: z.string().min(1) }),
      steps: [step({ name: 'greet', kind: 'no_side_effects', run: () => null })],
    });
    expect(() => operationRequestArbitrary([noSchema, withSchema])).toThrow(
      /operation type 'greet' validates its params .*options\.params\['greet'\]/,
    );
    const arb = operationRequestArbitrary([noSchema, withSchema], {
      params: { greet: fc.record({ name: fc.constantFrom('ada', 'bob') }) },
    });
    const samples = fc.sample(arb, { numRuns: 100, seed: 2 });
    expect(
      samples
        .filter((r) => r.type === 'ping')
        .every((r) => Object.keys(r.params ?? {}).length === 0),
    ).toBe(true);
    expect(samples.some((r) => r.type === 'greet' && typeof r.params?.['name'] === 'string')).toBe(
      true,
    );
  });

  it('takes definitions of any type, Object.prototype names among them', () => {
    const catalogTypes = new Set(Object.keys(catalogParamsArbitraries));
    const typeName = fc
      .oneof(fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype)), fc.string())
      .filter((t) => t.trim() !== '' && !catalogTypes.has(t));
    fc.assert(
      fc.property(typeName, (type) => {
        const noSchema = defineOperation({
          type,
          steps: [step({ name: 's', kind: 'no_side_effects', run: () => null })],
        });
        const [request] = fc.sample(operationRequestArbitrary([noSchema]), { numRuns: 1, seed: 3 });
        expect(request).toMatchObject({ type, params: {} });
        const withSchema = defineOperation({
          type,
          params: z.object({ name: z.string() }),
          steps: [step({ name: 's', kind: 'no_side_effects', run: () => null })],
        });
        expect(() => operationRequestArbitrary([withSchema])).toThrow(
          `operation type '${type}' validates its params`,
        );
      }),
      { numRuns: 100 },
    );
  });

  it('shrinks to a small, readable counterexample', () => {
    const details = fc.check(
      fc.property(
        operationRequestArbitrary({ 'app.scale': catalogParamsArbitraries['app.scale'] }),
        (r) => (r.params?.['containerCount'] as number) < 50,
      ),
      { seed: 42, numRuns: 500 },
    );
    expect(details.failed).toBe(true);
    const [request] = details.counterexample!;
    expect(request).toEqual({
      type: 'app.scale',
      environment: 'a',
      resource: { type: 'app', handle: 'a' },
      user: 'a@example.com',
      params: { app: 'a', containerCount: 50 },
    });
  });
});

// ---------------------------------------------------------------------------------------------

/** A cloud with instance `i-probe` and `i-1` launched, then a plan applied at `t0`. */
const planted = async (
  plan: CloudFaultPlan,
  before: (cloud: SimulatedCloud) => Promise<void> = async () => {},
) => {
  const clock = createVirtualClock();
  const cloud = createSimulatedCloud({ seed: 3, clock });
  await cloud.compute.ensureInstance({ instanceId: 'i-probe' });
  await cloud.compute.ensureInstance({ instanceId: 'i-1' });
  await cloud.loadBalancer.createEndpoint({ endpointId: 'e' });
  await cloud.volumes.createVolume({ volumeId: 'v', sizeGb: 1 });
  await before(cloud);
  const t0 = clock.now().getTime();
  applyCloudFaultPlan(cloud, plan);
  return { clock, cloud, t0 };
};

/** One cheap call to each service. */
const probe = (cloud: SimulatedCloud, service: CloudService): Promise<unknown> => {
  switch (service) {
    case 'compute':
      return cloud.compute.describeInstance('i-probe');
    case 'object-storage':
      return cloud.objectStorage.getObject({ bucket: 'b', key: 'k' });
    case 'load-balancer':
      return cloud.loadBalancer.describeEndpoint('e');
    case 'registry:docker-hub':
      return cloud.containers.pullImage({
        instanceId: 'i-probe',
        image: 'x:1',
        registry: 'docker-hub',
      });
    case 'registry:quay':
      return cloud.containers.pullImage({ instanceId: 'i-probe', image: 'x:1', registry: 'quay' });
  }
};

const faultOf = (promise: Promise<unknown>): Promise<string | null> =>
  promise.then(
    () => null,
    (error: unknown) => {
      if (error instanceof CloudServiceError) return error.code;
      throw error;
    },
  );

const advanceTo = (clock: VirtualClock, at: number) => {
  const now = clock.now().getTime();
  if (at > now) clock.advance(at - now);
};

/** Calls `call` once, in a way that never fails on the probe world. */
const invoke = (cloud: SimulatedCloud, call: CloudCall): Promise<unknown> => {
  switch (call) {
    case 'describeInstance':
      return cloud.compute.describeInstance('i-1');
    case 'describeVolume':
      return cloud.volumes.describeVolume('v');
    case 'getObject':
      return cloud.objectStorage.getObject({ bucket: 'b', key: 'k' });
    default:
      throw new Error(`not probed here: ${call}`);
  }
};

const instanceState = (cloud: SimulatedCloud, id: string) => cloud.snapshot().instances[id]?.state;

describe('cloudFaultPlanArbitrary and applyCloudFaultPlan', () => {
  it('installs outages: a call starting inside a window fails with OUTAGE, one outside succeeds', async () => {
    await fc.assert(
      fc.asyncProperty(
        cloudFaultPlanArbitrary({ maxOutages: 4, maxErrorRates: 0, horizonMs: 120_000 }),
        async (plan) => {
          const inOutage = (service: CloudService, rel: number) =>
            plan.outages.some((o) => o.service === service && o.from <= rel && rel < o.to);
          for (const o of plan.outages) {
            const { clock, cloud, t0 } = await planted(plan);
            advanceTo(clock, t0 + o.from);
            expect(await faultOf(probe(cloud, o.service))).toBe('OUTAGE');
            // Right after the window (or later, if the probe itself outlasted it).
            advanceTo(clock, t0 + o.to);
            const rel = clock.now().getTime() - t0;
            expect(await faultOf(probe(cloud, o.service))).toBe(
              inOutage(o.service, rel) ? 'OUTAGE' : null,
            );
            // Other services are not affected at the window's start.
            for (const other of SERVICES.filter((s) => !inOutage(s, o.from))) {
              const { clock: c2, cloud: cloud2, t0: t2 } = await planted(plan);
              advanceTo(c2, t2 + o.from);
              expect(await faultOf(probe(cloud2, other))).toBe(null);
            }
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('installs error rates: every call to a service with rate 1 fails, the others do not', async () => {
    await fc.assert(
      fc.asyncProperty(
        cloudFaultPlanArbitrary({
          maxOutages: 0,
          maxErrorRates: 3,
          minErrorRate: 1,
          maxErrorRate: 1,
        }),
        async (plan) => {
          const { cloud } = await planted(plan);
          for (const service of SERVICES) {
            const rate = plan.errorRates[service];
            expect(await faultOf(probe(cloud, service))).toBe(rate === 1 ? 'ERROR_RATE' : null);
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('installs crashes at a time and on the Nth call after the plan, before or after the call', async () => {
    const calls: CloudCall[] = ['describeInstance', 'describeVolume', 'getObject'];
    let crashed = 0;
    await fc.assert(
      fc.asyncProperty(
        cloudFaultPlanArbitrary({
          maxOutages: 0,
          maxErrorRates: 0,
          crashes: {
            atTime: ['i-1'],
            horizonMs: 60_000,
            onCall: { instances: ['i-1'], calls, maxOccurrence: 4 },
          },
        }),
        async (plan) => {
          // Calls made before the plan is applied do not count towards its occurrences.
          const { clock, cloud, t0 } = await planted(plan, async (c) => {
            for (const call of calls) await invoke(c, call);
          });
          const [crash] = plan.crashes;
          if (!crash) {
            advanceTo(clock, t0 + 3_600_000);
            expect(instanceState(cloud, 'i-1')).toBe('available');
            return;
          }
          crashed += 1;
          if ('at' in crash) {
            if (crash.at > 0) {
              advanceTo(clock, t0 + crash.at - 1);
              expect(instanceState(cloud, 'i-1')).toBe('available');
            }
            advanceTo(clock, t0 + crash.at);
            expect(instanceState(cloud, 'i-1')).toBe('crashed');
            return;
          }
          for (let n = 1; n < crash.occurrence; n++) {
            await invoke(cloud, crash.call);
            expect(instanceState(cloud, 'i-1')).toBe('available');
          }
          const seen = await invoke(cloud, crash.call);
          expect(instanceState(cloud, 'i-1')).toBe('crashed');
          if (crash.call === 'describeInstance') {
            // 'before': the call meets the crashed instance; 'after': it completed first.
            expect((seen as { state: string }).state).toBe(
              crash.timing === 'before' ? 'crashed' : 'available',
            );
          }
        },
      ),
      { numRuns: 200 },
    );
    expect(crashed).toBeGreaterThan(100);
  });

  it('makes a real operation fail where it says', async () => {
    const clock = createVirtualClock();
    const cloud = createSimulatedCloud({ seed: 1, clock });
    const engine = createEngine({
      store: createInMemoryEventStore(),
      operations: catalogDefinitions(cloud),
      clock,
      ids: createSequentialIds('op-'),
    });
    applyCloudFaultPlan(cloud, {
      outages: [{ service: 'object-storage', from: 0, to: 3_600_000 }],
      errorRates: {},
      crashes: [],
    });
    const handle = await engine.start({
      type: 'environment.provision',
      environment: 'staging',
      resource: { type: 'environment', handle: 'staging' },
      user: 'ada@example.com',
      params: { environment: 'staging' },
    });
    expect(await handle.result).toMatchObject({
      status: 'failed',
      failedStep: 'register environment',
    });
  });

  it('keeps the shapes and limits it is given', () => {
    const plans = fc.sample(
      cloudFaultPlanArbitrary({
        services: ['compute'],
        stepMs: 1_000,
        horizonMs: 10_000,
        maxOutages: 2,
        minOutageMs: 2_000,
        maxOutageMs: 5_000,
        crashes: { atTime: ['a', 'b'], max: 3 },
      }),
      { numRuns: 300, seed: 5 },
    );
    for (const p of plans) {
      expect(p.outages.length).toBeLessThanOrEqual(2);
      for (const o of p.outages) {
        expect(o.service).toBe('compute');
        expect(o.from % 1_000).toBe(0);
        expect(o.from).toBeLessThanOrEqual(10_000);
        expect(o.to - o.from).toBeGreaterThanOrEqual(2_000);
        expect(o.to - o.from).toBeLessThanOrEqual(5_000);
      }
      expect(Object.keys(p.errorRates).every((s) => s === 'compute')).toBe(true);
      expect(p.crashes.length).toBeLessThanOrEqual(3);
    }
    // Most plans crash something, and some crash nothing.
    const withCrash = plans.filter((p) => p.crashes.length > 0).length;
    expect(withCrash).toBeGreaterThan(200);
    expect(withCrash).toBeLessThan(300);
    expect(() => cloudFaultPlanArbitrary({ maxErrorRate: 2 })).toThrow(RangeError);
  });

  it('shrinks to the one fault that matters', () => {
    const details = fc.check(
      fc.property(
        cloudFaultPlanArbitrary({
          crashes: { atTime: ['i-1'], onCall: { instances: ['i-1'], calls: ['stopContainer'] } },
        }),
        (plan) =>
          !plan.outages.some((o) => o.service === 'load-balancer' && o.to - o.from > 30_000),
      ),
      { seed: 7, numRuns: 500 },
    );
    expect(details.failed).toBe(true);
    expect(details.counterexample![0]).toEqual({
      outages: [{ service: 'load-balancer', from: 0, to: 30_001 }],
      errorRates: {},
      crashes: [],
    });
  });
});

describe('faultPlanArbitrary (the rollback harness plans of user steps)', () => {
  it('stays public and picks steps within range', () => {
    for (const plan of fc.sample(faultPlanArbitrary(3), { numRuns: 100, seed: 1 })) {
      for (const at of [plan.failAt, plan.cancelAt]) {
        if (at !== undefined) expect(at).toBeGreaterThanOrEqual(0);
        if (at !== undefined) expect(at).toBeLessThan(3);
      }
    }
  });
});
