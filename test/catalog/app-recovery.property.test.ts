import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createInMemoryEventStore, type EventData } from '../../src/index.js';
import {
  APP,
  crashed,
  dyingStore,
  lifecycleWorld,
  newProcess,
  recoverOn,
  servingRelease,
  startOn,
  withoutTime,
  type RunningApp,
} from './app-lifecycle-fixtures.js';

/**
 * The process running an App operation (deploy, restart, scale down or up, configure) dies at
 * any event it writes (the append of that event fails, and nothing after it is written), and
 * another process recovers the operation. Whatever the moment (mid `deregister old targets`
 * included: done on the cloud, not recorded), the endpoint never goes down; a rollback leaves
 * the old release serving on exactly the containers it had, a run to the end the new one; and
 * the app's next operation runs. app-deploy-secrets.test.ts checks three such moments by hand.
 */

const V1 = 'web:v1';
const V2 = 'web:v2';
const RUNNING: RunningApp = { count: 2, image: V1, env: { RAILS_ENV: 'production' } };

interface Case {
  type: string;
  params: Record<string, unknown>;
  /** What serves once it has succeeded. */
  after: { image: string; count: number; env: Record<string, string> };
}

const CASES: Case[] = [
  { type: 'app.deploy', params: { image: V2 }, after: { ...RUNNING, image: V2 } },
  { type: 'app.restart', params: {}, after: RUNNING },
  { type: 'app.scale', params: { containerCount: 1 }, after: { ...RUNNING, count: 1 } },
  { type: 'app.scale', params: { containerCount: 3 }, after: { ...RUNNING, count: 3 } },
  {
    type: 'app.configure',
    params: { set: { FEATURE_X: 'on' } },
    after: { ...RUNNING, env: { ...RUNNING.env, FEATURE_X: 'on' } },
  },
];

/** Dies at the `n`th event appended (counting from 1), and from then on. */
const nthEvent = (n: number) => {
  let seen = 0;
  return (_event: EventData) => ++seen === n;
};

describe('App operations, their process killed at any event, recovered by another process', () => {
  it('ends with one release serving and no downtime, the old one restored exactly after a rollback', async () => {
    // A deploy without a crash writes 27 events: crashes up to 60 also cover "no crash".
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 16 }),
        fc.integer({ min: 1, max: 60 }),
        fc.constantFrom(...CASES),
        async (seed, n, { type, params, after }) => {
          const inner = createInMemoryEventStore();
          const w = await lifecycleWorld(seed, RUNNING, { store: dyingStore(inner, nthEvent(n)) });
          const before = withoutTime(w.cloud);
          let outcome: 'crashed' | 'ended' | 'never started' = 'never started';
          let id: string | undefined;
          try {
            const op = await w.start(type, params);
            id = op.id;
            outcome = (await crashed(op.result)) as 'crashed' | 'ended';
          } catch {
            // The crash hit while the request was being accepted.
          }
          const recovered = await recoverOn(inner, w);
          expect(w.cloud.downtime().endpoints[APP] ?? 0).toBe(0);
          // At most the one operation to take over; none when it ended before the crash.
          expect(recovered.length).toBeLessThanOrEqual(outcome === 'ended' ? 0 : 1);
          const [taken] = recovered;
          // Nothing taken over after a crash: it had ended (only what follows its end was lost).
          const ended =
            id && !taken ? await newProcess(inner, w, 'v-').getOperation(id) : undefined;
          const status = taken?.status ?? ended?.status;

          if (status === 'succeeded') {
            // It ran to its end (a recovery runs an operation accepted but never started): the
            // new release serves, on as many containers as before, all running.
            const now = servingRelease(w.cloud);
            expect(now.releases).toEqual([{ image: after.image, env: after.env }]);
            expect(now.targets).toHaveLength(after.count);
            expect(now.running).toBe(true);
          } else if (status === 'failed') {
            expect(taken).toMatchObject({ rollback: 'succeeded', notUndone: [] });
            expect(servingRelease(w.cloud)).toEqual({
              targets: w.oldIds,
              releases: [{ image: V1, env: RUNNING.env }],
              running: true,
            });
            // The same containers as before, and none of the deploy's left behind.
            expect(withoutTime(w.cloud).containers).toEqual(before.containers);
          } else {
            // Never accepted: nothing happened.
            expect(outcome).toBe('never started');
            expect(withoutTime(w.cloud)).toEqual(before);
          }
          // And the app goes on: its next operation runs, on whichever release serves.
          const serving = servingRelease(w.cloud).releases;
          const restart = await startOn(newProcess(inner, w, 'n-'), 'app.restart', {});
          expect((await restart.result).status).toBe('succeeded');
          expect(servingRelease(w.cloud).releases).toEqual(serving);
          expect(w.cloud.downtime().endpoints[APP] ?? 0).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);
});
