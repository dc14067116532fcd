import { describe, expect, it } from 'vitest';
import { ownValue, setOwnValue } from '../../src/domain/own-keys.js';

const prototypeNames = Object.getOwnPropertyNames(Object.prototype);

describe('own keys (records keyed by names a user chose)', () => {
  it("reads an own key and never the prototype's", () => {
    const record: Record<string, number> = { start: 1 };
    expect(ownValue(record, 'start')).toBe(1);
    for (const name of prototypeNames) expect(ownValue(record, name), name).toBeUndefined();
    expect(ownValue(undefined, 'start')).toBeUndefined();
    expect(ownValue(JSON.parse('{"__proto__": 2}') as Record<string, number>, '__proto__')).toBe(2);
  });

  it('sets every name as an own key, __proto__ included, leaving the prototype alone', () => {
    const record: Record<string, unknown> = {};
    for (const name of prototypeNames) setOwnValue(record, name, `${name}!`);
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(Object.keys(record).sort()).toEqual([...prototypeNames].sort());
    for (const name of prototypeNames) expect(ownValue(record, name), name).toBe(`${name}!`);
  });
});
