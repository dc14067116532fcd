import type { ClientResolvedEvent } from './client-shape.js';
import { isReservedName, isSystemEvent, positionOf } from './event-encoding.js';
import { EventStoreDbConfigError } from './errors.js';

/**
 * Confines a store to its part of a shared server. EventStoreDB cannot be emptied and $all
 * holds every application's events, so several opledger stores (tenants, environments, test
 * runs) can share one server by each taking a stream-name prefix; `startAfter` additionally
 * hides the global log up to a position, so that a new scope does not scan history it cannot
 * own. The contract tests run this way, each test in a scope of its own.
 */
export interface EventStoreDbScope {
  /**
   * Added to every stream name on the server and removed again when reading. Events in other
   * streams are not this store's: readAll, headPosition and subscribe skip them.
   */
  streamPrefix?: string;
  /** The store sees nothing of $all at or before this global position. Defaults to 0n. */
  startAfter?: bigint;
}

export interface StreamScope {
  readonly prefix: string;
  readonly floor: bigint;
  /** The stream's name on the server. */
  serverName(stream: string): string;
  /** The opledger stream name of an event read from $all; undefined when it is not this store's. */
  streamNameOf(resolved: ClientResolvedEvent): string | undefined;
}

export const createStreamScope = (scope: EventStoreDbScope = {}): StreamScope => {
  const prefix = scope.streamPrefix ?? '';
  const floor = scope.startAfter ?? 0n;
  if (typeof prefix !== 'string' || isReservedName(prefix)) {
    throw new EventStoreDbConfigError(
      `the stream prefix '${String(prefix)}' would make every stream a system stream; pick one that does not start with '$'`,
    );
  }
  if (typeof floor !== 'bigint' || floor < 0n) {
    throw new EventStoreDbConfigError(
      `startAfter must be a global position (a bigint >= 0n), not ${String(floor)}`,
    );
  }
  return {
    prefix,
    floor,
    serverName: (stream) => prefix + stream,
    streamNameOf: (resolved) => {
      if (isSystemEvent(resolved)) return undefined;
      const streamId = resolved.event?.streamId ?? '';
      if (!streamId.startsWith(prefix)) return undefined;
      const position = positionOf(resolved);
      if (position !== undefined && position <= floor) return undefined;
      return streamId.slice(prefix.length);
    },
  };
};
