import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  type EventStore,
  type StepKind,
} from '../../src/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { request } from '../support/fixtures.js';

// The in-memory store appends and reads synchronously for the engine, and a step that returns
// at once is not awaited; a copy of the store (`{ ...store }`) is used through its promises
// only. The two paths must write the same history, whatever the steps do.

interface Plan {
  kind: StepKind;
  /** The run returns at once (or throws at once) instead of through a promise. */
  sync: boolean;
  logs: number;
  fails: boolean;
  undoSync: boolean;
  undoFails: boolean;
}

const planArb: fc.Arbitrary<Plan> = fc.record({
  kind: fc.constantFrom<StepKind>('undoable', 'no_side_effects', 'irreversible'),
  sync: fc.boolean(),
  logs: fc.integer({ min: 0, max: 2 }),
  fails: fc.boolean(),
  undoSync: fc.boolean(),
  undoFails: fc.boolean(),
});

const later = <T>(value: () => T): Promise<T> => Promise.resolve().then(value);

const operationOf = (plans: readonly Plan[]) =>
  defineOperation({
    type: 'deploy',
    steps: plans.map((p, i) =>
      step({
        name: `s${i}`,
        kind: p.kind,
        run: ({ log }) => {
          const body = () => {
            for (let l = 0; l < p.logs; l++) log(`s${i} line ${l}`);
            if (p.fails) throw new Error(`s${i} refused`);
            return { step: i };
          };
          return p.sync ? body() : later(body);
        },
        ...(p.kind === 'undoable'
          ? {
              undo: () => {
                const body = () => {
                  if (p.undoFails) throw new Error(`undo s${i} refused`);
                };
                return p.undoSync ? body() : later(body);
              },
            }
          : {}),
      }),
    ),
  });

/** The history an engine on `store` writes for one run of `plans` (times left out). */
const historyOf = async (store: EventStore, plans: readonly Plan[]) => {
  const engine = createEngine({
    store,
    operations: [operationOf(plans)],
    clock: createVirtualClock(),
    ids: createSequentialIds('op-'),
    telemetry: false,
  });
  const handle = await engine.start(request());
  const result = await handle.result;
  const events = (await store.readAll()).map((e) => {
    const { at: _at, createdAt: _createdAt, ...data } = e.data as Record<string, unknown>;
    return [e.streamName, e.streamRevision, e.type, data];
  });
  return { status: result.status, rollback: result.rollback, events };
};

describe('the synchronous and the promised paths of the in-memory store', () => {
  it('write the same events, in the same order, for any mix of steps that return at once or later, log, fail, and undo', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(planArb, { minLength: 1, maxLength: 5 }), async (plans) => {
        const direct = await historyOf(createInMemoryEventStore(), plans);
        const copy = await historyOf({ ...createInMemoryEventStore() }, plans);
        expect(direct).toEqual(copy);
        // Every operation ends: nothing is left waiting on an append that never came.
        expect(['succeeded', 'failed']).toContain(direct.status);
      }),
      { numRuns: 150 },
    );
  });
});
