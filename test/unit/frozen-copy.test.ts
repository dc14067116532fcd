import { describe, expect, it } from 'vitest';
import { frozenCopy } from '../../src/adapters/memory/frozen-copy.js';

const deeplyFrozen = (value: unknown): boolean =>
  value === null ||
  typeof value !== 'object' ||
  (Object.isFrozen(value) && Object.values(value).every(deeplyFrozen));

describe('frozenCopy (what the in-memory store keeps of appended data)', () => {
  it('copies plain data deeply and freezes the copy, leaving the original alone', () => {
    const original = { a: [1, { b: 'x', c: null }], d: { e: true, f: 1.5 }, g: 10n };
    const copy = frozenCopy(original);
    expect(copy).toStrictEqual(original);
    expect(copy).not.toBe(original);
    expect(copy.a[1]).not.toBe(original.a[1]);
    expect(deeplyFrozen(copy)).toBe(true);
    expect(Object.isFrozen(original)).toBe(false);
    (original.a[1] as { b: string }).b = 'changed';
    expect((copy.a[1] as { b: string }).b).toBe('x');
  });

  it('keeps array holes and null-prototype objects as structuredClone does', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3];
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { k: 1 });
    const copy = frozenCopy({ sparse, bare });
    expect(1 in copy.sparse).toBe(false);
    expect(copy).toStrictEqual(structuredClone({ sparse, bare }));
  });

  it('copies anything else (Date, Map, class instances) with structuredClone, frozen', () => {
    class Point {
      constructor(public x: number) {}
    }
    const value = { when: new Date(0), map: new Map([['k', { v: 1 }]]), point: new Point(1) };
    const copy = frozenCopy(value);
    expect(copy).toStrictEqual(structuredClone(value));
    expect(copy.when).not.toBe(value.when);
    expect(copy.when.getTime()).toBe(0);
    expect(Object.isFrozen(copy.when)).toBe(true);
    expect(Object.isFrozen(copy.map)).toBe(true);
  });

  it('copies cyclic values through structuredClone', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const copy = frozenCopy(cyclic);
    expect(copy.self).toBe(copy);
    expect(copy).not.toBe(cyclic);
    expect(Object.isFrozen(copy)).toBe(true);
  });

  it("keeps an own '__proto__' key as a key, as structuredClone and JSON do, without changing the copy's prototype", () => {
    // Found by test/property/stored-history-frozen.property.test.ts: assigned, the key set the
    // copy's prototype and vanished from the store's history.
    const data = JSON.parse('{"__proto__": {"polluted": true}, "kept": 1}') as object;
    const copy = frozenCopy(data);
    expect(Object.keys(copy)).toEqual(['__proto__', 'kept']);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect((copy as { polluted?: boolean }).polluted).toBeUndefined();
    expect(copy).toStrictEqual(structuredClone(data));
    expect(deeplyFrozen(copy)).toBe(true);
  });

  it('refuses what structuredClone refuses', () => {
    expect(() => frozenCopy({ f: () => 1 })).toThrow(/could not be cloned/);
    expect(() => frozenCopy([Symbol('s')])).toThrow(/could not be cloned/);
  });
});
