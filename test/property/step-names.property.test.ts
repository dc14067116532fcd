import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEngine, createInMemoryEventStore, defineOperation, step } from '../../src/index.js';
import { outputOf } from '../../src/domain/operation-definition.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { request } from '../support/fixtures.js';

// Names a state keyed by step name could mistake for a step it has: Object.prototype's own.
const prototypeNames = Object.getOwnPropertyNames(Object.prototype);
const stepNames = fc.uniqueArray(
  fc.oneof(
    fc.constantFrom(...prototypeNames),
    fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s.trim() !== '' && s !== 'boom'),
  ),
  { minLength: 1, maxLength: 5 },
);

describe('any step name', () => {
  it('runs its steps, hands their outputs on, and undoes them newest first when a later step fails', async () => {
    await fc.assert(
      fc.asyncProperty(stepNames, async (names) => {
        const ran: string[] = [];
        const undone: string[] = [];
        const seen: unknown[] = [];
        const drafts = names.map((name) =>
          step({
            name,
            run: () => {
              ran.push(name);
              return { from: name };
            },
            undo: () => void undone.push(name),
          }),
        );
        const op = defineOperation({
          type: 'named',
          steps: [
            ...drafts,
            step({
              name: 'boom',
              kind: 'no_side_effects',
              run: ({ outputs }) => {
                for (const d of drafts) seen.push(outputOf(outputs, d));
                throw new Error('boom');
              },
            }),
          ],
        });
        const engine = createEngine({
          store: createInMemoryEventStore(),
          operations: [op],
          clock: createVirtualClock(),
          ids: createSequentialIds('op-'),
        });
        try {
          const handle = await engine.start(request({ type: 'named' }));
          const result = await handle.result;
          expect(result.status).toBe('failed');
          expect(ran).toEqual(names);
          expect(seen).toEqual(names.map((name) => ({ from: name })));
          expect(undone).toEqual([...names].reverse());
          expect(result).toMatchObject({ rollback: 'succeeded', notUndone: [] });
        } finally {
          await engine.shutdown();
        }
      }),
      { numRuns: 150 },
    );
  });

  it("does not take a prototype property for a step's output before that step ran", () => {
    const later = step({ name: 'constructor', run: () => 1, undo: () => undefined });
    expect(outputOf({}, later)).toBeUndefined();
    expect(outputOf({ constructor: 2 }, later)).toBe(2);
  });
});
