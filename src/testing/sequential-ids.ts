/** Ids `op-000001`, `op-000002`, ...: readable in tests and sorted by creation. */
export const createSequentialIds = (prefix = 'op-'): (() => string) => {
  let n = 0;
  return () => `${prefix}${String(++n).padStart(6, '0')}`;
};
