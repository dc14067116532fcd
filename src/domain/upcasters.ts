import type { EventType } from './events.js';

/** Turns an event stored at an older version into the next version's data. */
export interface Upcaster {
  type: EventType;
  fromVersion: number;
  upcast: (data: unknown) => unknown;
}

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
