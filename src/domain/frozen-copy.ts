import { deepFreeze } from './deep-freeze.js';

// Past this depth the value is probably cyclic: structuredClone copes with that, a walk does not.
const MAX_DEPTH = 200;
const TOO_DEEP = Symbol('too deep');

const copy = (value: unknown, depth: number): unknown => {
  if (value === null) return value;
  if (typeof value !== 'object') {
    // structuredClone throws a DataCloneError for these: so does this copy.
    return typeof value === 'function' || typeof value === 'symbol'
      ? structuredClone(value)
      : value;
  }
  if (depth > MAX_DEPTH) throw TOO_DEEP;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Array.prototype) {
    const source = value as unknown[];
    const out = new Array<unknown>(source.length);
    for (let i = 0; i < source.length; i++) {
      if (i in source) out[i] = copy(source[i], depth + 1);
    }
    return Object.freeze(out);
  }
  if (proto === Object.prototype || proto === null) {
    const source = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(source)) out[key] = copy(source[key], depth + 1);
    return Object.freeze(out);
  }
  // A Date, a Map, a typed array, a class instance: structuredClone's rules, as before.
  return deepFreeze(structuredClone(value));
};

/**
 * A deep copy of `value`, frozen as it is built: what the in-memory store keeps of the data a
 * caller appends, so that the caller can never change history. Event data is JSON in practice
 * (every other adapter stores it as JSON), made of plain objects and arrays: those are copied
 * here in one walk, several times faster than structuredClone followed by a deepFreeze walk.
 * Anything else, and values nested too deeply to be anything but cyclic, go through
 * structuredClone as the whole store used to, with its semantics and errors.
 */
export const frozenCopy = <T>(value: T): T => {
  try {
    return copy(value, 0) as T;
  } catch (error) {
    if (error !== TOO_DEEP) throw error;
    return deepFreeze(structuredClone(value));
  }
};

// Data this module vouches for: built fresh by the library and frozen all the way down, with no
// part shared with anything a caller holds mutable. The mark is a private class field stamped
// on the object (a base constructor that returns the object it is given): no caller can forge
// or read it, reflection does not show it, and checking it is a property look-up. A WeakSet did
// the same and cost more than the copy it saved: the in-memory store keeps every event, so the
// set grew with the store and every garbage collection walked it (bench/NOTES.md, round 6).
// Object.isFrozen cannot stand in for it: it says nothing of nested data.
class Adopt {
  constructor(value: object) {
    return value;
  }
}
class SealMark extends Adopt {
  #sealed = true;
  static has(value: object): boolean {
    return #sealed in value;
  }
}

/**
 * Records that `value` is the library's own deeply frozen data (see `isSealed`), and returns it.
 * Only for data built fresh and frozen all the way down, nothing in it shared with a caller.
 *
 * @example
 * ```ts
 * const data = seal(Object.freeze({ operationId: 'op-1' }));
 * isSealed(data); // true
 * ```
 */
export const seal = <T extends object>(value: T): T => {
  new SealMark(value);
  return value;
};

/**
 * Whether `value` was sealed: deeply frozen by the library and shared with no caller's mutable
 * data, so that a store may keep it as it is instead of copying it (the codec seals what
 * `encodeEvent` validates; the in-memory store keeps that without its copy and freeze).
 *
 * @example
 * ```ts
 * const stored = isSealed(event.data) ? event.data : frozenCopy(event.data);
 * ```
 */
export const isSealed = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && SealMark.has(value);
