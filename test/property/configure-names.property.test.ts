import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appConfigureParams } from '../../src/catalog/app/configure.js';

// Variable names a check by `in` could mistake for names given in `set`: Object.prototype's
// own (all of them valid variable names), mixed with any others.
const prototypeNames = Object.getOwnPropertyNames(Object.prototype);
const name = fc.oneof(
  fc.constantFrom(...prototypeNames),
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/),
);
// `set` refuses an own `__proto__` key (own-key-record.ts): no name of `set` can be it.
const setName = name.filter((n) => n !== '__proto__');

describe('app.configure params, for any variable names', () => {
  it('unsets names not set, and sets the others, plain or sensitive as marked', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(setName, { minLength: 1, maxLength: 5 }),
        fc.uniqueArray(name, { maxLength: 5 }),
        fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        (set, unsetCandidates, marks) => {
          const unset = unsetCandidates.filter((n) => !set.includes(n));
          const sensitive = set.filter((_, i) => marks[i]);
          const values = Object.fromEntries(set.map((n) => [n, `value of ${n}`]));
          const result = appConfigureParams.safeParse({
            app: 'web',
            set: values,
            unset,
            sensitive,
          });
          expect(result.error?.issues ?? []).toEqual([]);
          const plain = set.filter((n) => !sensitive.includes(n));
          expect(result.data?.unset).toEqual(unset);
          expect(Object.keys(result.data?.set ?? {})).toEqual(plain);
          expect(Object.keys(result.data?.secrets ?? {})).toEqual(sensitive);
          expect({ ...result.data?.set, ...result.data?.secrets }).toEqual(values);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a name marked sensitive that is not set', () => {
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 2, maxLength: 5 }), ([missing, ...set]) => {
        const values = Object.fromEntries(
          set.filter((n) => n !== '__proto__').map((n) => [n, 'v']),
        );
        const result = appConfigureParams.safeParse({
          app: 'web',
          set: { ...values, SOME_VARIABLE_SET: 'v' },
          sensitive: [missing],
        });
        expect(result.error?.issues.map((i) => i.message)).toEqual([
          `${missing} is marked sensitive but not set`,
        ]);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a name both set and unset', () => {
    const result = appConfigureParams.safeParse({
      app: 'web',
      set: { toString: 'v' },
      unset: ['toString', 'constructor'],
    });
    expect(result.error?.issues.map((i) => i.message)).toEqual(['toString is both set and unset']);
  });
});
