import { describe, expect, it } from 'vitest';
import { InvalidDefinitionError } from '../../src/domain/errors.js';
import {
  defineOperation,
  step,
  type OperationSpec,
  type StepSpec,
} from '../../src/domain/operation-definition.js';
import { defaultRetryPolicy } from '../../src/domain/retry-policy.js';
import type { StandardSchemaV1 } from '../../src/domain/standard-schema.js';

const noop = () => undefined;
const define = (...steps: StepSpec<Record<string, unknown>, unknown>[]) =>
  defineOperation({ type: 'deploy', steps: steps.map((s) => step(s)) });
const refused = (spec: () => unknown) => expect(spec).toThrow(InvalidDefinitionError);

describe('defineOperation: what a definition must say', () => {
  it('given a type that is not a non-empty string, then InvalidDefinitionError', () => {
    const steps = [step({ name: 'a', kind: 'no_side_effects', run: noop })];
    refused(() => defineOperation({ type: 42 as unknown as string, steps }));
    refused(() => defineOperation({ type: '', steps }));
  });

  it('given steps that are not a list, then InvalidDefinitionError', () => {
    refused(() => defineOperation({ type: 'deploy' } as OperationSpec<Record<string, unknown>>));
  });

  it('given a step without a name, a run function or a known kind, then InvalidDefinitionError', () => {
    refused(() => define({ name: '  ', kind: 'no_side_effects', run: noop }));
    refused(() => define({ name: 7 as unknown as string, kind: 'no_side_effects', run: noop }));
    refused(() => define({ name: 'a', kind: 'no_side_effects', run: 'x' as never }));
    refused(() => define({ name: 'a', kind: 'reversible' as never, run: noop }));
  });

  it('given an undoable step whose undo is not a function, or a step with no side effects that has an undo, then InvalidDefinitionError', () => {
    refused(() => define({ name: 'a', kind: 'undoable', run: noop, undo: 'x' as never }));
    refused(() => define({ name: 'a', kind: 'no_side_effects', run: noop, undo: noop }));
  });

  it('given a bad undo retry policy, then InvalidDefinitionError even when the run policy is good', () => {
    refused(() =>
      define({ name: 'a', run: noop, undo: noop, undoRetry: { backoffCoefficient: 0 } }),
    );
  });

  it('given an admit that is not a function, then InvalidDefinitionError', () => {
    refused(() =>
      defineOperation({
        type: 'deploy',
        admit: 'no' as never,
        steps: [step({ name: 'a', kind: 'no_side_effects', run: noop })],
      }),
    );
  });

  it('given a lifecycle other than provision or deprovision, then InvalidDefinitionError', () => {
    refused(() =>
      defineOperation({
        type: 'deploy',
        lifecycle: 'create' as never,
        steps: [step({ name: 'a', kind: 'no_side_effects', run: noop })],
      }),
    );
  });
});

describe('defineOperation: what a definition holds', () => {
  it('given a minimal step, then it is interruptible, retried by the default policy, without undo, alternatives or when', () => {
    const [s] = define({ name: 'check', kind: 'no_side_effects', run: noop }).steps;
    expect(s).toStrictEqual({
      name: 'check',
      kind: 'no_side_effects',
      run: noop,
      retry: { ...defaultRetryPolicy, maximumIntervalMs: 100_000 },
      undoRetry: { ...defaultRetryPolicy, maximumIntervalMs: 100_000 },
      interruptible: true,
    });
  });

  it('given a step with everything, then it keeps its undo, its own undo policy, a copy of its alternatives, when, and interruptible false', () => {
    const alternatives = ['registry-a', 'registry-b'];
    const when = () => true;
    const [s] = define({
      name: 'pull',
      kind: 'undoable',
      run: noop,
      undo: noop,
      retry: { maxAttempts: 3 },
      undoRetry: { maxAttempts: 5 },
      alternatives,
      interruptible: false,
      when,
    }).steps;
    expect(s).toStrictEqual({
      name: 'pull',
      kind: 'undoable',
      run: noop,
      undo: noop,
      retry: { ...defaultRetryPolicy, maximumIntervalMs: 100_000, maxAttempts: 3 },
      undoRetry: { ...defaultRetryPolicy, maximumIntervalMs: 100_000, maxAttempts: 5 },
      alternatives: ['registry-a', 'registry-b'],
      interruptible: false,
      when,
    });
    expect(s?.alternatives).not.toBe(alternatives);
  });

  it('given step() with no spec, then the step function for those params, which makes the same step as step(spec)', () => {
    const spec = { name: 'check', kind: 'no_side_effects' as const, run: noop };
    const curried = step<{ image: string }>();
    expect(curried).toBeTypeOf('function');
    expect(curried(spec)).toStrictEqual(step(spec));
  });

  it('given an operation with no options, then it has no sensitive params, lifecycle, release or params schema', () => {
    const def = define({ name: 'check', kind: 'no_side_effects', run: noop });
    expect(Object.keys(def).sort()).toEqual(['sensitive', 'steps', 'type']);
    expect(def.sensitive).toEqual([]);
  });

  it('given an operation with its options, then it keeps them (admit too), the sensitive names copied', () => {
    const sensitive = ['password'];
    const release = () => 'web:v2';
    const admit = () => undefined;
    const params: StandardSchemaV1<unknown, Record<string, unknown>> = {
      '~standard': {
        version: 1,
        vendor: 'x',
        validate: (v: unknown) => ({ value: v as Record<string, unknown> }),
      },
    };
    const def = defineOperation({
      type: 'deploy',
      lifecycle: 'deprovision',
      sensitive,
      release,
      params,
      admit,
      steps: [step({ name: 'check', kind: 'no_side_effects', run: noop })],
    });
    expect(def).toMatchObject({
      lifecycle: 'deprovision',
      sensitive: ['password'],
      release,
      params,
      admit,
    });
    expect(def.sensitive).not.toBe(sensitive);
    expect(
      defineOperation({
        type: 'x',
        lifecycle: 'provision',
        steps: [step({ name: 'a', kind: 'no_side_effects', run: noop })],
      }).lifecycle,
    ).toBe('provision');
  });
});
