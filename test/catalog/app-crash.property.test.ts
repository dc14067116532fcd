import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CloudCall, SimulatedCloud } from '../../src/adapters/infrastructure/index.js';
import type { OperationResult } from '../../src/index.js';
import {
  APP,
  HOST,
  NEW_IMAGE,
  OLD_IMAGE,
  RUNNER,
  appFaultPlan,
  appWorldUnder,
  serving,
  type AppWorld,
} from './app-fixtures.js';

/**
 * app.property.test.ts proves zero downtime when only the one-off before_release instance
 * crashes. Here the instance that serves the app (`web-host`) crashes too, at any time or on the
 * Nth call of any port call the operations make. A crashed host is downtime no deploy can
 * prevent: every container of the app runs there. What is provable, and proved:
 *
 * - the operation causes no downtime of its own: the endpoint goes down only at the instant the
 *   host crashes, and stays down only until the host is back (nothing in the operation reboots
 *   it; the test reboots it afterwards and restarts the registered containers, as a restart
 *   policy would);
 * - never a mix: the endpoint's targets all run one release, the old or the new; with the
 *   expected count when the operation succeeded or its rollback says it succeeded;
 * - a rollback that could not restore everything says so (a crashed host refuses container
 *   starts and removals), and the endpoint is never left without targets;
 * - without a crash of the host, the strong property of app.property.test.ts holds unchanged.
 */

/** Every call the app operations make. */
const CALLS: CloudCall[] = [
  'ensureInstance',
  'pullImage',
  'startContainer',
  'checkHealth',
  'registerTarget',
  'deregisterTarget',
  'stopContainer',
  'removeContainer',
  'describeContainer',
  'describeEndpoint',
];

/** Timed crashes fall within `crashHorizonMs`: about as long as the operation runs. */
const faultPlan = (crashHorizonMs: number) =>
  appFaultPlan({
    atTime: [HOST, RUNNER],
    horizonMs: crashHorizonMs,
    onCall: { instances: [HOST, RUNNER], calls: CALLS, maxOccurrence: 4 },
    max: 2,
  });

const endpointDowntime = (cloud: SimulatedCloud) => cloud.downtime().endpoints[APP] ?? 0;

const entries = (cloud: SimulatedCloud, kind: string, subject: string) =>
  cloud.timeline().filter((e) => e.kind === kind && e.subject === subject);

/** Reboots the host and starts the registered containers again, as a restart policy would. */
const hostBack = async (w: AppWorld) => {
  await w.cloud.compute.ensureInstance({ instanceId: HOST });
  for (const id of w.cloud.snapshot().endpoints[APP]?.targets ?? []) {
    const c = await w.cloud.containers.describeContainer(id);
    if (!c) throw new Error(`registered target ${id} does not exist`);
    await w.cloud.containers.startContainer({
      containerId: c.id,
      instanceId: c.instanceId,
      image: c.image,
      command: c.command,
      env: c.env,
      sizeMb: c.sizeMb,
    });
  }
};

interface Releases {
  /** Targets and image before the operation. */
  old: { ids: string[]; image: string };
  /** Targets and image after a success. */
  next: { ids: string[]; image: string };
}

type Seen = Record<'no-host-crash' | 'host-crash' | 'partial-rollback' | 'resumed', number>;
const noneSeen = (): Seen => ({
  'no-host-crash': 0,
  'host-crash': 0,
  'partial-rollback': 0,
  resumed: 0,
});

/**
 * The checks of every run, once the operation has ended. Counts what kind of run it was, so the
 * tests can show that host crashes were really exercised.
 */
const checkOutcome = async (
  w: AppWorld,
  result: OperationResult,
  { old, next }: Releases,
  seen: Seen,
): Promise<void> => {
  // Settle what is due, then stop faulting: what follows only observes (and repairs the host).
  w.cloud.snapshot();
  w.cloud.faults.clear();
  const sorted = (ids: string[]) => [...ids].sort();
  const crash = entries(w.cloud, 'instance-crashed', HOST)[0];

  if (!crash) {
    // The strong property: no downtime at all, the old release or the new one exactly.
    expect(endpointDowntime(w.cloud)).toBe(0);
    const s = serving(w.cloud);
    expect(s.running).toBe(true);
    const expected = result.status === 'succeeded' ? next : old;
    expect(s.targets).toEqual(sorted(expected.ids));
    expect(s.images).toEqual([expected.image]);
    seen['no-host-crash'] += 1;
    return;
  }

  // Down only from the crash of the host: never before it, never for another reason.
  const downs = entries(w.cloud, 'endpoint-down', APP);
  expect(downs.map((d) => d.at)).toEqual([crash.at]);
  expect(entries(w.cloud, 'endpoint-up', APP).filter((u) => u.at > crash.at)).toEqual([]);

  // Never a mix, never empty.
  const s = serving(w.cloud);
  expect(s.targets.length).toBeGreaterThan(0);
  expect(s.images).toHaveLength(1);
  const release =
    s.images[0] === next.image && s.targets.every((t) => next.ids.includes(t)) ? next : old;
  expect(s.images).toEqual([release.image]);
  expect(s.targets.every((t) => release.ids.includes(t))).toBe(true);
  let kind: 'host-crash' | 'partial-rollback' = 'host-crash';
  if (result.status === 'succeeded') {
    expect(s.targets).toEqual(sorted(next.ids));
  } else if (result.rollback !== 'failed') {
    // The verdict does not lie: everything is as it was.
    expect(s.targets).toEqual(sorted(old.ids));
  } else {
    // The rollback says it failed, and says why; the targets are still one release.
    expect(result.notUndone.length).toBeGreaterThan(0);
    if (!sameIds(s.targets, old.ids)) kind = 'partial-rollback';
  }

  // Once the host is back, the app serves that one release, and the downtime was exactly the
  // time the host was down.
  await hostBack(w);
  const back = serving(w.cloud);
  expect(back.running).toBe(true);
  expect(back.images).toEqual([release.image]);
  const [up] = entries(w.cloud, 'endpoint-up', APP).filter((u) => u.at > crash.at);
  const rebooted = entries(w.cloud, 'instance-rebooted', HOST).at(-1);
  expect(up).toBeDefined();
  expect(rebooted).toBeDefined();
  expect(up!.at).toBeGreaterThanOrEqual(rebooted!.at);
  expect(endpointDowntime(w.cloud)).toBe(up!.at - crash.at);

  // A rollback that failed only because the host was down finishes once it is back: on the old
  // release exactly, and without any further downtime.
  if (result.rollback === 'failed' && result.notUndone.some((n) => n.reason === 'undo_failed')) {
    seen.resumed += 1;
    const handle = await w.engine.continueRollback(result.id);
    const resumed = await handle.result;
    expect(resumed.notUndone.filter((n) => n.reason !== 'irreversible')).toEqual([]);
    const restored = serving(w.cloud);
    expect(restored.running).toBe(true);
    expect(restored.targets).toEqual(sorted(old.ids));
    expect(restored.images).toEqual([old.image]);
    // Nothing of the operation is left behind: only the old containers exist.
    expect(Object.keys(w.cloud.snapshot().containers).sort()).toEqual(sorted(old.ids));
    expect(endpointDowntime(w.cloud)).toBe(up!.at - crash.at);
  }
  seen[kind] += 1;
};

const sameIds = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

const RUNS = { numRuns: 200 };

const expectCoverage = (seen: Seen) => {
  // The generator really crashed the host, and also left it alone.
  expect(seen['host-crash'] + seen['partial-rollback']).toBeGreaterThan(10);
  expect(seen['no-host-crash']).toBeGreaterThan(10);
  // Rollbacks that the crash stopped, finished once the host was back.
  expect(seen.resumed).toBeGreaterThan(0);
};

describe('App operations when the host serving the app crashes', () => {
  it('appDeploy: downtime only while the host is down; old or new release, never a mix', async () => {
    const seen = noneSeen();
    await fc.assert(
      fc.asyncProperty(faultPlan(200_000), fc.integer({ min: 1, max: 3 }), async (plan, count) => {
        const w = await appWorldUnder(plan, 2);
        if (plan.unhealthy) w.cloud.setImageBehaviour(NEW_IMAGE, { responds: false });
        const op = await w.start('app.deploy', {
          image: NEW_IMAGE,
          containerCount: count,
          beforeRelease: ['rake db:migrate'],
          healthCheckTimeoutSeconds: 20,
        });
        const result = await op.result;
        const newIds = Array.from({ length: count }, (_, i) => `${APP}-${op.id}-${i + 1}`);
        await checkOutcome(
          w,
          result,
          {
            old: { ids: w.oldIds, image: OLD_IMAGE },
            next: { ids: newIds, image: NEW_IMAGE },
          },
          seen,
        );
      }),
      RUNS,
    );
    expectCoverage(seen);
  });

  it('appRestart: downtime only while the host is down; old containers or replacements', async () => {
    const seen = noneSeen();
    await fc.assert(
      fc.asyncProperty(faultPlan(90_000), async (plan) => {
        const w = await appWorldUnder(plan, 2);
        const op = await w.start('app.restart', { healthCheckTimeoutSeconds: 20 });
        const result = await op.result;
        await checkOutcome(
          w,
          result,
          {
            old: { ids: w.oldIds, image: OLD_IMAGE },
            next: { ids: [`${APP}-${op.id}-1`, `${APP}-${op.id}-2`], image: OLD_IMAGE },
          },
          seen,
        );
      }),
      RUNS,
    );
    expectCoverage(seen);
  });

  it('appScale: downtime only while the host is down; the old count or the new one', async () => {
    const seen = noneSeen();
    await fc.assert(
      fc.asyncProperty(
        faultPlan(60_000),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        async (plan, from, to) => {
          const w = await appWorldUnder(plan, from);
          const op = await w.start('app.scale', {
            containerCount: to,
            healthCheckTimeoutSeconds: 20,
          });
          const result = await op.result;
          const added = Array.from(
            { length: Math.max(0, to - from) },
            (_, i) => `${APP}-${op.id}-${i + 1}`,
          );
          const scaled = to >= from ? [...w.oldIds, ...added] : w.oldIds.slice(0, to);
          await checkOutcome(
            w,
            result,
            {
              old: { ids: w.oldIds, image: OLD_IMAGE },
              next: { ids: scaled, image: OLD_IMAGE },
            },
            seen,
          );
        },
      ),
      RUNS,
    );
    expectCoverage(seen);
  });
});
