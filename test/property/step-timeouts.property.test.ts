import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineOperation, step } from '../../src/index.js';
import { createVirtualClock } from '../../src/testing/index.js';
import { request, setup } from '../support/fixtures.js';

/** One stretch of a run: it sleeps `gap` ms on the engine's clock, then maybe heartbeats. */
interface Stretch {
  gap: number;
  beat: 'none' | 'alive' | 'details';
}

interface Case {
  timeoutMs: number | undefined;
  heartbeatTimeoutMs: number | undefined;
  stretches: Stretch[];
  /** Whether the run passes its signal to its sleeps (stops at the timeout) or ignores it. */
  honoursSignal: boolean;
}

const caseArbitrary: fc.Arbitrary<Case> = fc
  .record({
    timeoutMs: fc.option(fc.integer({ min: 1, max: 4_000 }), { nil: undefined }),
    heartbeatTimeoutMs: fc.option(fc.integer({ min: 1, max: 1_500 }), { nil: undefined }),
    stretches: fc.array(
      fc.record({
        gap: fc.integer({ min: 0, max: 1_600 }),
        beat: fc.constantFrom<Stretch['beat']>('none', 'alive', 'details'),
      }),
      { maxLength: 8 },
    ),
    honoursSignal: fc.boolean(),
  })
  .filter(
    (c) =>
      (c.timeoutMs !== undefined || c.heartbeatTimeoutMs !== undefined) &&
      (c.timeoutMs === undefined ||
        c.heartbeatTimeoutMs === undefined ||
        c.heartbeatTimeoutMs < c.timeoutMs),
  );

/**
 * What the timeouts should make of a run, worked out from the times alone: a timer fires when
 * the clock reaches its deadline (the attempt's start + timeoutMs, the last heartbeat +
 * heartbeatTimeoutMs), the earlier deadline first.
 */
const model = (c: Case) => {
  let now = 0;
  let lastBeat = 0;
  let details: unknown;
  for (const [i, s] of c.stretches.entries()) {
    now += s.gap;
    const deadlines = [
      ...(c.heartbeatTimeoutMs !== undefined
        ? [{ at: lastBeat + c.heartbeatTimeoutMs, kind: 'heartbeat' as const }]
        : []),
      ...(c.timeoutMs !== undefined ? [{ at: c.timeoutMs, kind: 'start_to_close' as const }] : []),
    ].sort((a, b) => a.at - b.at);
    const fired = deadlines.find((d) => d.at <= now);
    if (fired) return { timedOut: fired.kind, details };
    if (s.beat !== 'none') lastBeat = now;
    if (s.beat === 'details') details = { stretch: i };
  }
  return { timedOut: undefined, details };
};

describe('step timeouts, on any run (property)', () => {
  it('given any timeouts and any run of sleeps and heartbeats, then the attempt succeeds exactly when no deadline was reached, and never after one was', async () => {
    await fc.assert(
      fc.asyncProperty(caseArbitrary, async (c) => {
        const clock = createVirtualClock();
        let returned = false;
        const op = defineOperation({
          type: 'deploy',
          steps: [
            step({
              name: 'copy',
              kind: 'no_side_effects',
              ...(c.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}),
              ...(c.heartbeatTimeoutMs !== undefined
                ? { heartbeatTimeoutMs: c.heartbeatTimeoutMs }
                : {}),
              run: async ({ heartbeat, signal }) => {
                for (const [i, s] of c.stretches.entries()) {
                  await clock.sleep(s.gap, c.honoursSignal ? signal : undefined);
                  if (s.beat === 'alive') heartbeat();
                  if (s.beat === 'details') heartbeat({ stretch: i });
                }
                returned = true;
                return { stretches: c.stretches.length };
              },
            }),
          ],
        });
        const { engine, store } = setup([op], { clock });
        const handle = await engine.start(request());
        const result = await handle.result;
        const expected = model(c);
        const failed = (await store.readStream(`operation-${handle.id}`))
          .filter((e) => e.type === 'StepFailed')
          .map((e) => e.data as { heartbeat?: unknown; error: { code?: string } });
        if (expected.timedOut === undefined) {
          expect(result.status).toBe('succeeded');
          expect(failed).toEqual([]);
          return;
        }
        // The invariant: once a deadline was reached, the attempt fails, even when the run
        // ignored its signal and returned.
        expect(result.status).toBe('failed');
        expect(result.error?.code).toBe('STEP_TIMEOUT');
        expect(result.error?.message).toMatch(
          expected.timedOut === 'heartbeat' ? /no heartbeat for/ : /its timeoutMs/,
        );
        expect(failed).toHaveLength(1);
        expect(failed[0]?.heartbeat).toEqual(expected.details);
        if (c.honoursSignal) expect(returned).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
