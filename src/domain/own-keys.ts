// Records keyed by names a user chose (step names, event types, metadata keys, query
// parameters): a plain object's lookup by such a name finds Object.prototype's `constructor`
// or `toString`, and an assignment to `__proto__` sets the prototype instead of a key. These two
// read and write own keys only.

/**
 * The value of `record`'s own key `key`, or undefined: never a property of its prototype.
 *
 * @example
 * ```ts
 * ownValue({ start: 1 }, 'start'); // 1
 * ownValue({ start: 1 }, 'constructor'); // undefined, not Object
 * ```
 */
export const ownValue = <V>(
  record: Readonly<Record<string, V>> | undefined,
  key: string,
): V | undefined => (record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined);

/**
 * Sets `record`'s own key `key`, even `__proto__` (which an assignment takes as the prototype).
 *
 * @example
 * ```ts
 * const copy: Record<string, unknown> = {};
 * setOwnValue(copy, '__proto__', 1); // Object.keys(copy) is ['__proto__']
 * ```
 */
export const setOwnValue = <V>(record: Record<string, V>, key: string, value: V): void => {
  if (key === '__proto__') {
    Object.defineProperty(record, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else record[key] = value;
};
