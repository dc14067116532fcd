import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CloudService } from '../../src/adapters/infrastructure/index.js';
import { databaseRedeploy, databaseResizeVolume } from '../../src/catalog/database/index.js';
import { applyCloudFaultPlan, cloudFaultPlanArbitrary } from '../../src/testing/index.js';
import {
  attachmentsAlternate,
  DB,
  databaseState,
  databaseWorld,
  dbDowntime,
  NEW,
  OLD,
  REDEPLOY_WINDOW_MS,
  RESIZE_WINDOW_MS,
} from './database-world.js';

const RUNS = { numRuns: 200 };
const SERVICES: CloudService[] = [
  'compute',
  'object-storage',
  'load-balancer',
  'registry:docker-hub',
  'registry:quay',
];
const PRECONDITIONS = [
  'inspect placement',
  'ensure target instance',
  'pre-pull image',
  'check new size',
];
/** Long enough to cover any operation here and its rollback. */
const HORIZON_MS = 150_000;

const faultsArb = fc.record({
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  targetExists: fc.boolean(),
  cloud: cloudFaultPlanArbitrary({
    services: SERVICES,
    horizonMs: HORIZON_MS,
    maxOutages: 4,
    minOutageMs: 1,
    maxOutageMs: 60_000,
    maxErrorRates: 2,
    maxErrorRate: 0.3,
    // A crash of the target instance at a virtual time (a resize never uses it), or of the old
    // one right after a call of the downtime window.
    crashes: {
      atTime: [NEW],
      onCall: {
        instances: [OLD],
        calls: ['stopContainer', 'unmountVolume', 'detachVolume', 'resizeVolume'],
        timings: ['after'],
        maxOccurrence: 1,
      },
    },
  }),
});

type Faults = typeof faultsArb extends fc.Arbitrary<infer F> ? F : never;

type Outcome = 'precondition' | 'succeeded' | 'window';

const check = async (kind: 'redeploy' | 'resize', f: Faults): Promise<Outcome> => {
  const w = await databaseWorld((cloud) => [databaseRedeploy(cloud), databaseResizeVolume(cloud)], {
    seed: f.seed,
    targetExists: f.targetExists,
  });
  const before = databaseState(w.cloud);
  applyCloudFaultPlan(w.cloud, f.cloud);
  const result =
    kind === 'redeploy'
      ? await w.run('database.redeploy', { ...DB, targetInstanceId: NEW })
      : await w.run('database.resize_volume', { ...DB, sizeGb: 20 });
  // Stop faulting once the operation has ended: what follows only observes.
  w.cloud.faults.clear();
  const downtime = dbDowntime(w.cloud);
  const after = databaseState(w.cloud);

  // Never attached to two instances, never lost.
  expect(attachmentsAlternate(w.cloud)).toBe(true);
  expect(after.volume).toBeDefined();
  expect(after.database).toEqual(before.database);
  expect(after.volume!.sizeGb).toBeGreaterThanOrEqual(before.volume!.sizeGb);

  if (result.status === 'failed' && PRECONDITIONS.includes(result.failedStep ?? '')) {
    expect(downtime).toBe(0);
    expect(after).toEqual(before);
    return 'precondition';
  }
  if (result.status === 'succeeded') {
    // The window's calls run once each, without retries: downtime is at most their durations.
    expect(downtime).toBeLessThanOrEqual(
      kind === 'redeploy' ? REDEPLOY_WINDOW_MS : RESIZE_WINDOW_MS,
    );
    const target = kind === 'redeploy' ? NEW : OLD;
    expect(after.volume).toMatchObject({ attachedTo: target, mounted: true });
    if (kind === 'resize') expect(after.volume!.sizeGb).toBe(20);
    // A crash of the target after the operation ended is not the operation's downtime.
    if (f.cloud.crashes.length === 0)
      expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
    return 'succeeded';
  }
  // Failed inside the window: a successful rollback puts the database back on its old instance.
  if (result.rollback === 'succeeded') {
    expect(after.volume).toMatchObject({ attachedTo: OLD, mounted: true });
    expect(after.container?.state).toBe('running');
    expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
  }
  return 'window';
};

/** Runs the property and checks that the faults reached every outcome, not just the easy ones. */
const assertAll = async (kind: 'redeploy' | 'resize', numRuns = RUNS.numRuns) => {
  const seen = { precondition: 0, succeeded: 0, window: 0 };
  await fc.assert(
    fc.asyncProperty(faultsArb, async (f) => {
      const outcome = await check(kind, f);
      seen[outcome] += 1;
    }),
    { numRuns },
  );
  expect(seen.precondition).toBeGreaterThan(0);
  expect(seen.succeeded).toBeGreaterThan(0);
  expect(seen.window).toBeGreaterThan(0);
};

describe('database redeploy and resize under any fault', () => {
  it('redeploy: no downtime on a precondition failure, bounded downtime otherwise', async () => {
    await assertAll('redeploy');
  });

  it('resize: no downtime on a precondition failure, bounded downtime otherwise', async () => {
    // A failed precondition is rarer for a resize (about 2% of cases): 600 runs make sure the
    // coverage check below sees one instead of failing by chance.
    await assertAll('resize', 600);
  });
});
