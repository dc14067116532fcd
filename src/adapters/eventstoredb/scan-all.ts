import type { ClientPackage } from './client-dialect.js';
import type {
  ClientPosition,
  ClientReadPosition,
  ClientResolvedEvent,
  EventStoreDbClient,
} from './client-shape.js';
import { positionOf } from './event-encoding.js';

/**
 * Pages through $all. Every read asks for a bounded page because stopping an open-ended read
 * early does not cancel it on the server with @eventstore/db-client (the gRPC call keeps
 * streaming into a destroyed Readable); a bounded read always ends on its own.
 */
export interface ScanOptions {
  /** Exclusive lower bound (forwards) or 'end' to walk backwards from the head. */
  from: bigint | 'end';
  pageSize?: number;
}

const DEFAULT_PAGE_SIZE = 256;

const compare = (a: ClientPosition, b: ClientPosition): number =>
  a.commit === b.commit
    ? a.prepare === b.prepare
      ? 0
      : a.prepare < b.prepare
        ? -1
        : 1
    : a.commit < b.commit
      ? -1
      : 1;

export async function* scanAll(
  client: EventStoreDbClient,
  pkg: ClientPackage,
  { from, pageSize = DEFAULT_PAGE_SIZE }: ScanOptions,
): AsyncGenerator<ClientResolvedEvent> {
  const forwards = from !== 'end';
  const direction = forwards ? pkg.FORWARDS : pkg.BACKWARDS;
  let fromPosition: ClientReadPosition =
    from === 'end' ? pkg.END : from === 0n ? pkg.START : { commit: from, prepare: from };
  let last: ClientPosition | undefined;
  for (;;) {
    let read = 0;
    let fresh = 0;
    for await (const resolved of client.readAll({ fromPosition, direction, maxCount: pageSize })) {
      read++;
      const position = resolved.event?.position;
      // A page starts at the last event of the one before (forward reads are inclusive).
      if (
        last &&
        position &&
        (forwards ? compare(position, last) <= 0 : compare(position, last) >= 0)
      ) {
        continue;
      }
      if (position) last = position;
      fresh++;
      yield resolved;
    }
    if (read < pageSize || fresh === 0 || last === undefined) return;
    fromPosition = last;
  }
}

/** The position of the last record in $all, system events included; undefined when empty. */
export const lastPositionInLog = async (
  client: EventStoreDbClient,
  pkg: ClientPackage,
): Promise<bigint | undefined> => {
  for await (const resolved of client.readAll({
    fromPosition: pkg.END,
    direction: pkg.BACKWARDS,
    maxCount: 1,
  })) {
    return positionOf(resolved);
  }
  return undefined;
};
