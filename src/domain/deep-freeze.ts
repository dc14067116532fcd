/**
 * Freezes `value` and everything reachable from it, in place. A frozen object is taken as
 * frozen all the way down and not walked again: everything this module and its callers freeze
 * is frozen whole, so structurally shared parts of a state cost nothing to freeze twice.
 */
export const deepFreeze = <T>(value: T): T => {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
};
