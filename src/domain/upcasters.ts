import type { Upcaster } from './event-codec.js';

/**
 * Upcasters opledger ships for its own schema changes; user upcasters run after them.
 *
 * OperationRequested v1 -> v2: v1 named the resource with two flat fields (`resourceType`,
 * `resourceHandle`); v2 groups them as `resource: { type, handle }`, the shape of every request.
 */
export const builtInUpcasters: readonly Upcaster[] = [
  {
    type: 'OperationRequested',
    fromVersion: 1,
    upcast: (data) => {
      const { resourceType, resourceHandle, ...rest } = data as Record<string, unknown>;
      return { ...rest, resource: { type: resourceType, handle: resourceHandle } };
    },
  },
];
