import { deepFreeze } from '../../domain/deep-freeze.js';
import { setOwnValue } from '../../domain/own-keys.js';

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
    for (const key of Object.keys(source)) {
      // An own `__proto__` key (JSON.parse makes one) stays a key, not the copy's prototype.
      setOwnValue(out, key, copy(source[key], depth + 1));
    }
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
