import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  type EventStore,
  type OperationDefinition,
  type RecordedEvent,
} from '../../src/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { request } from '../support/fixtures.js';
import {
  actualRun,
  countWhere,
  createRecordingTelemetry,
  expectedRun,
  sumWhere,
  type RecordingTelemetry,
} from '../support/telemetry.js';

interface StepPlan {
  kind: 'undoable' | 'no_side_effects' | 'irreversible';
  /** Attempts that fail before one succeeds (more than it has: the step fails). */
  failures: number;
  alternatives: number;
  undoFailures: number;
}

const stepPlan: fc.Arbitrary<StepPlan> = fc.record({
  kind: fc.constantFrom('undoable', 'no_side_effects', 'irreversible'),
  failures: fc.integer({ min: 0, max: 5 }),
  alternatives: fc.integer({ min: 0, max: 2 }),
  undoFailures: fc.integer({ min: 0, max: 2 }),
});

/** A deploy made of the planned steps: retries, failovers, failed undos, logs from each. */
const deployOf = (plans: readonly StepPlan[]): OperationDefinition =>
  defineOperation({
    type: 'deploy',
    steps: plans.map((p, i) => {
      let failures = p.failures;
      let undoFailures = p.undoFailures;
      return step({
        name: `s${i}`,
        kind: p.kind,
        retry: { maxAttempts: 2, initialIntervalMs: 10 },
        ...(p.alternatives > 0
          ? { alternatives: Array.from({ length: p.alternatives + 1 }, (_, k) => `p${k}`) }
          : {}),
        run: ({ log, attempt }) => {
          log(`s${i} attempt ${attempt}`);
          if (failures-- > 0) throw Object.assign(new Error(`s${i} refused`), { code: 'REFUSED' });
          return { done: i };
        },
        ...(p.kind === 'undoable'
          ? {
              undo: () => {
                if (undoFailures-- > 0) throw new Error(`undo s${i} refused`);
              },
              undoRetry: { maxAttempts: 2, initialIntervalMs: 10 },
            }
          : {}),
      });
    }),
  }) as OperationDefinition;

const engineWith = (
  store: EventStore,
  ops: OperationDefinition[],
  t: RecordingTelemetry,
  prefix = 'op-',
) =>
  createEngine({
    store,
    operations: ops,
    clock: createVirtualClock(),
    ids: createSequentialIds(prefix),
    telemetry: t.options,
  });

const eventsOf = (store: EventStore, id: string): Promise<RecordedEvent[]> =>
  store.readStream(`operation-${id}`);

const runSpansOf = (t: RecordingTelemetry, id: string) =>
  t
    .finishedSpans()
    .filter((s) => s.name === 'opledger deploy' && s.attributes['opledger.operation.id'] === id);

describe('telemetry: the span tree of an operation is its events, one for one', () => {
  it('a failed deploy: step attempts, retries, failover, undos, not undone, verdict', async () => {
    const t = createRecordingTelemetry();
    const store = createInMemoryEventStore();
    const deploy = deployOf([
      { kind: 'undoable', failures: 1, alternatives: 0, undoFailures: 0 },
      { kind: 'irreversible', failures: 0, alternatives: 0, undoFailures: 0 },
      { kind: 'undoable', failures: 2, alternatives: 1, undoFailures: 5 },
      { kind: 'no_side_effects', failures: 9, alternatives: 0, undoFailures: 0 },
    ]);
    const engine = engineWith(store, [deploy], t);
    const handle = await engine.start(request());
    const result = await handle.result;
    expect(result).toMatchObject({ status: 'failed', rollback: 'failed' });

    const [run, ...others] = runSpansOf(t, handle.id);
    expect(others).toEqual([]);
    const spans = t.finishedSpans();
    const actual = actualRun(spans, run!);
    expect(actual).toEqual(expectedRun(await eventsOf(store, handle.id)));
    // What the verdict and the failure look like on the run's span.
    expect(run!.attributes).toMatchObject({
      'opledger.operation.id': handle.id,
      'opledger.operation.type': 'deploy',
      'opledger.environment': 'production',
      'opledger.resource': 'web',
      'opledger.outcome': 'failed',
      'opledger.rollback': 'failed',
      'opledger.error.code': 'REFUSED',
    });
    expect(run!.status.code).toBe(2); // ERROR
    expect(actual.spanEvents).toContain('opledger.failover');
    expect(actual.spanEvents).toContain('opledger.not_undone');
    const retried = spans.find(
      (s) => s.name === 'step s0' && s.attributes['opledger.attempt'] === 1,
    );
    expect(retried?.attributes).toMatchObject({
      'opledger.outcome': 'failed',
      'opledger.will_retry': true,
      'opledger.error.code': 'REFUSED',
    });
    expect(retried?.events.map((e) => e.name)).toEqual(['log', 'exception']);
    const failedUndo = spans.find(
      (s) => s.name === 'undo s2' && s.attributes['opledger.attempt'] === 2,
    );
    expect(failedUndo?.status.code).toBe(2);
  });

  it('holds for any generated operation, and the metrics are the counts of the events', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(stepPlan, { minLength: 1, maxLength: 4 }), {
          minLength: 1,
          maxLength: 4,
        }),
        async (operations) => {
          const t = createRecordingTelemetry();
          const store = createInMemoryEventStore();
          const events: RecordedEvent[][] = [];
          for (const [i, plans] of operations.entries()) {
            const engine = engineWith(store, [deployOf(plans)], t, `op${i}-`);
            const handle = await engine.start(
              request({ resource: { type: 'app', handle: `app-${i}` } }),
            );
            await handle.result;
            const own = await eventsOf(store, handle.id);
            events.push(own);
            const runs = runSpansOf(t, handle.id);
            expect(runs).toHaveLength(1);
            expect(actualRun(t.finishedSpans(), runs[0]!)).toEqual(expectedRun(own));
          }
          const all = events.flat();
          const count = (
            type: string,
            where: (d: Record<string, unknown>) => boolean = () => true,
          ) =>
            all.filter((e) => e.type === type && where(e.data as Record<string, unknown>)).length;
          expect(sumWhere(await t.metric('opledger.operations.started'))).toBe(
            count('OperationStarted'),
          );
          expect(sumWhere(await t.metric('opledger.steps.retried'))).toBe(
            count('StepFailed', (d) => d.willRetry === true && !d.failoverTo),
          );
          expect(sumWhere(await t.metric('opledger.steps.failed_over'))).toBe(
            count('StepFailed', (d) => Boolean(d.failoverTo)),
          );
          expect(sumWhere(await t.metric('opledger.undos.failed'))).toBe(
            count('StepUndoFailed', (d) => d.willRetry === false),
          );
          const ended = await t.metric('opledger.operations.ended');
          for (const outcome of ['succeeded', 'failed']) {
            for (const rollback of ['none', 'succeeded', 'failed']) {
              const expected = events.filter((own) => {
                const last = own.at(-1)!;
                const status = own.some((e) => e.type === 'OperationSucceeded')
                  ? 'succeeded'
                  : 'failed';
                const rb = own.some((e) => e.type === 'RollbackFinished')
                  ? (
                      own.findLast((e) => e.type === 'RollbackFinished')!.data as {
                        outcome: string;
                      }
                    ).outcome
                  : 'none';
                void last;
                return status === outcome && rb === rollback;
              }).length;
              expect(
                sumWhere(ended, { 'opledger.outcome': outcome, 'opledger.rollback': rollback }),
              ).toBe(expected);
            }
          }
          expect(countWhere(await t.metric('opledger.operation.duration'))).toBe(events.length);
          expect(countWhere(await t.metric('opledger.operation.queue_wait'))).toBe(events.length);
          expect(sumWhere(await t.metric('opledger.operations.running'))).toBe(0);
          expect(sumWhere(await t.metric('opledger.operations.queued'))).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  });
});
