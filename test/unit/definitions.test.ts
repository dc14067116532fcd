import { describe, expect, it } from 'vitest';
import { defineOperation, InvalidDefinitionError, outputOf, step } from '../../src/index.js';

const noop = () => undefined;

const expectInvalid = (fn: () => unknown, fragment: string) => {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidDefinitionError);
  expect((caught as InvalidDefinitionError).code).toBe('INVALID_DEFINITION');
  expect((caught as Error).message).toContain(fragment);
};

describe('defineOperation', () => {
  it('rejects a definition without steps', () => {
    expectInvalid(() => defineOperation({ type: 'deploy', steps: [] }), 'at least one step');
  });

  it('rejects two steps with the same name', () => {
    expectInvalid(
      () =>
        defineOperation({
          type: 'deploy',
          steps: [
            step({ name: 'pull', kind: 'no_side_effects', run: noop }),
            step({ name: 'pull', kind: 'no_side_effects', run: noop }),
          ],
        }),
      "two steps are named 'pull'",
    );
  });

  it('rejects an empty type', () => {
    expectInvalid(
      () =>
        defineOperation({
          type: ' ',
          steps: [step({ name: 'a', kind: 'no_side_effects', run: noop })],
        }),
      'type must be a non-empty string',
    );
  });

  it('makes a step with an undo undoable and demands a kind otherwise', () => {
    const def = defineOperation({
      type: 'deploy',
      steps: [step({ name: 'start', run: noop, undo: noop })],
    });
    expect(def.steps[0]?.kind).toBe('undoable');
    expectInvalid(
      () => defineOperation({ type: 'deploy', steps: [step({ name: 'start', run: noop })] }),
      "say kind 'irreversible' or 'no_side_effects'",
    );
  });

  it('rejects an undoable step without undo and an irreversible step with one', () => {
    expectInvalid(
      () =>
        defineOperation({ type: 'x', steps: [step({ name: 's', kind: 'undoable', run: noop })] }),
      'is undoable but has no undo',
    );
    expectInvalid(
      () =>
        defineOperation({
          type: 'x',
          steps: [step({ name: 's', kind: 'irreversible', run: noop, undo: noop })],
        }),
      'is irreversible but has an undo',
    );
  });

  it('rejects bad retry policies and alternatives', () => {
    expectInvalid(
      () =>
        defineOperation({
          type: 'x',
          steps: [
            step({ name: 's', kind: 'no_side_effects', run: noop, retry: { maxAttempts: 0 } }),
          ],
        }),
      'retry.maxAttempts',
    );
    expectInvalid(
      () =>
        defineOperation({
          type: 'x',
          steps: [step({ name: 's', kind: 'no_side_effects', run: noop, alternatives: [] })],
        }),
      'empty alternatives',
    );
    expectInvalid(
      () =>
        defineOperation({
          type: 'x',
          steps: [
            step({ name: 's', kind: 'no_side_effects', run: noop, alternatives: ['a', 'a'] }),
          ],
        }),
      'lists a provider twice',
    );
  });

  it('fills in the default retry policy', () => {
    const def = defineOperation({
      type: 'x',
      steps: [step({ name: 's', kind: 'no_side_effects', run: noop, retry: { maxAttempts: 4 } })],
    });
    expect(def.steps[0]?.retry).toEqual({
      maxAttempts: 4,
      initialIntervalMs: 1000,
      backoffCoefficient: 2,
      maximumIntervalMs: 100_000,
      nonRetryable: [],
    });
    expect(def.steps[0]?.undoRetry.maxAttempts).toBe(4);
  });
});

describe('steps that do not apply', () => {
  it('are left out of the plan by when(params): they neither run nor appear in the rollback', async () => {
    const { setup, request } = await import('../support/fixtures.js');
    const ran: string[] = [];
    const op = defineOperation<{ migrate: boolean }>({
      type: 'deploy',
      steps: [
        step({
          name: 'before_release',
          kind: 'irreversible',
          when: (p) => p.migrate,
          run: () => void ran.push('before_release'),
        }),
        step({
          name: 'start',
          run: () => void ran.push('start'),
          undo: () => void ran.push('undo start'),
        }),
        step({
          name: 'check',
          kind: 'no_side_effects',
          run: () => Promise.reject(new Error('unhealthy')),
        }),
      ],
    });
    const { engine, store } = setup([op]);
    const without = await (await engine.start(request({ params: { migrate: false } }))).result;
    expect(without).toMatchObject({ rollback: 'succeeded', notUndone: [] });
    expect(ran).toEqual(['start', 'undo start']);
    const [requested] = await store.readStream(`operation-${without.id}`, { maxCount: 1 });
    expect((requested?.data as { steps: { name: string }[] }).steps.map((s) => s.name)).toEqual([
      'start',
      'check',
    ]);
    const withMigration = await (await engine.start(request({ params: { migrate: true } }))).result;
    expect(withMigration.notUndone).toEqual([{ step: 'before_release', reason: 'irreversible' }]);
  });
});

describe('outputOf', () => {
  it("reads the output recorded under the draft's step name, undefined when there is none", () => {
    const start = step({ name: 'start containers', run: () => ({ ids: ['c1'] }), undo: noop });
    expect(outputOf({ 'start containers': { ids: ['c1', 'c2'] } }, start)).toEqual({
      ids: ['c1', 'c2'],
    });
    expect(outputOf({ 'other step': { ids: [] } }, start)).toBeUndefined();
  });
});
