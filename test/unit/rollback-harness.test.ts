import { describe, expect, it } from 'vitest';
import { defineOperation, step } from '../../src/index.js';
import { checkRollback } from '../../src/testing/index.js';

const makeWorld = () => {
  let items = new Set<string>();
  return {
    reset: () => {
      items = new Set(['base']);
    },
    observe: () => [...items].sort(),
    add: (name: string, undo: 'right' | 'forgets' | 'throws' = 'right') =>
      step({
        name,
        run: () => {
          items.add(name);
          return { added: name };
        },
        undo: () => {
          if (undo === 'throws') throw new Error(`cannot remove ${name}`);
          if (undo === 'right') items.delete(name);
        },
      }),
    irreversible: (name: string) =>
      step({ name, kind: 'irreversible', run: () => void items.add(name) }),
    check: step({ name: 'check', kind: 'no_side_effects', run: () => undefined }),
  };
};

describe('checkRollback (the harness for your own steps)', () => {
  it('passes steps whose undos restore the world', async () => {
    const w = makeWorld();
    const outcome = await checkRollback({
      operation: [w.add('a'), w.add('b'), w.check, w.add('c')],
      observe: w.observe,
      reset: w.reset,
      numRuns: 100,
      seed: 1,
    });
    expect(outcome).toEqual({ ok: true, runs: 100 });
  });

  it('catches an undo that forgets to restore, with the smallest fault plan', async () => {
    const w = makeWorld();
    const outcome = await checkRollback({
      operation: [w.add('a'), w.add('b', 'forgets'), w.check, w.add('c')],
      observe: w.observe,
      reset: w.reset,
      numRuns: 100,
      seed: 1,
    });
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.counterexample.problem).toContain("rollback reported 'succeeded'");
    // Shrunk to one fault at or after 'b' (a failure after it, or a cancel while it runs).
    const { plan } = outcome.counterexample;
    expect(Object.keys(plan)).toHaveLength(1);
    expect(plan.failAt ?? plan.cancelAt).toBeGreaterThanOrEqual(plan.failAt !== undefined ? 2 : 1);
    expect(outcome.counterexample.before).toEqual(['base']);
    expect(outcome.counterexample.after).toEqual(['b', 'base']);
    expect(outcome.counterexample.log.at(-1)).toContain('Rollback succeeded');
  });

  it('reports an undo that throws', async () => {
    const w = makeWorld();
    const outcome = await checkRollback({
      operation: defineOperation({ type: 'mine', steps: [w.add('a', 'throws'), w.check] }),
      observe: w.observe,
      reset: w.reset,
      numRuns: 50,
      seed: 3,
    });
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.counterexample.problem).toBe("the undo of step 'a' failed: cannot remove a");
  });

  it('accepts irreversible steps, whose changes the rollback reports instead of undoing', async () => {
    const w = makeWorld();
    const outcome = await checkRollback({
      operation: [w.irreversible('migrate'), w.add('a'), w.check],
      observe: w.observe,
      reset: w.reset,
      numRuns: 50,
      seed: 4,
    });
    expect(outcome.ok).toBe(true);
  });
});
