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

/**
 * Iterates a bounded read and, when the caller stops early (break, return, throw in its loop),
 * reads the rest of it before letting go. Leaving a client's read early destroys the client's
 * Readable while its gRPC call has already ended (or is about to): the call's stream, unpiped,
 * then never emits 'end', and `client.dispose()`, which waits for every stream it opened to
 * finish, never returns. Seen with @eventstore/db-client 6.2 against the wire-level test
 * server (test/support/esdb-wire-faults.ts): `store.close()` hung after
 * `subscribe({ after: 'end' })`. Every read the adapter leaves early is bounded (a page, or
 * one event), so reading it out is cheap.
 */
export async function* readToEnd<T>(read: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = read[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      let next: IteratorResult<T>;
      try {
        next = await iterator.next();
      } catch (error) {
        finished = true;
        throw error;
      }
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!finished) {
      try {
        while (!(await iterator.next()).done) {
          // Discarded: the caller has what it wanted.
        }
      } catch {
        // The read failed after the caller stopped listening: nobody is left to tell.
      }
    }
  }
}

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
    for await (const resolved of readToEnd(
      client.readAll({ fromPosition, direction, maxCount: pageSize }),
    )) {
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
  for await (const resolved of readToEnd(
    client.readAll({ fromPosition: pkg.END, direction: pkg.BACKWARDS, maxCount: 1 }),
  )) {
    return positionOf(resolved);
  }
  return undefined;
};
