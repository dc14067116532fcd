import { Observable } from 'rxjs';
import { StoreClosedError } from '../../domain/errors.js';
import type { RecordedEvent } from '../../domain/event-store.js';

export interface LiveSubscriptionsOptions<Row> {
  pollIntervalMs: number;
  /** Events per read: a long catch-up is delivered a page per turn of the event loop. */
  pageSize: number;
  isClosed: () => boolean;
  head: () => bigint;
  /** Rows after `position` (exclusive), in global order, at most `limit`. */
  readAfter: (position: bigint, limit: number) => Row[];
  /** May throw for a malformed row: the subscriber then gets every event before it, then the error. */
  toEvent: (row: Row) => RecordedEvent;
  /** A row's global position, read without decoding it: skipped rows still move the cursor. */
  positionOf: (row: Row) => bigint;
  /** Errors worth retrying at the next poll (a lock held elsewhere) rather than failing on. */
  isTransient: (error: unknown) => boolean;
}

export interface LiveSubscriptions<Row> {
  /** `keep` leaves out rows before they are decoded (a subscription to some types only). */
  observe(after: bigint | 'end', keep?: (row: Row) => boolean): Observable<RecordedEvent>;
  /** Something was appended through this store: deliver it now rather than at the next poll. */
  wake(): void;
  /** Completes every subscription and stops polling. */
  closeAll(): void;
}

interface Feed {
  behind(head: bigint): boolean;
  schedule(): void;
  fail(error: unknown): void;
  complete(): void;
}

/**
 * Catch-up then live, by polling the file: SQLite has no notifications, and polling is what
 * lets a subscriber see appends made by other processes. Each subscriber keeps its own cursor
 * and reads `position > cursor` in order; SQLite commits one writer at a time, so a committed
 * position is never followed later by a smaller one, and the cursor can neither skip nor repeat.
 */
export const createLiveSubscriptions = <Row>(
  options: LiveSubscriptionsOptions<Row>,
): LiveSubscriptions<Row> => {
  const feeds = new Set<Feed>();
  let timer: NodeJS.Timeout | undefined;

  const poll = () => {
    if (options.isClosed()) return;
    let head: bigint;
    try {
      head = options.head();
    } catch (error) {
      if (options.isTransient(error)) return;
      for (const feed of [...feeds]) feed.fail(error);
      return;
    }
    for (const feed of feeds) if (feed.behind(head)) feed.schedule();
  };

  // The timer runs only while someone listens, and keeps Node alive only then: a process
  // following another process's operation must not exit while it waits.
  const startPolling = () => {
    timer ??= setInterval(poll, options.pollIntervalMs);
  };
  const stopPollingIfIdle = () => {
    if (timer && feeds.size === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  const observe = (after: bigint | 'end', keep?: (row: Row) => boolean) =>
    new Observable<RecordedEvent>((subscriber) => {
      if (options.isClosed()) {
        subscriber.error(new StoreClosedError());
        return;
      }
      let cursor: bigint;
      try {
        cursor = after === 'end' ? options.head() : after;
      } catch (error) {
        subscriber.error(error);
        return;
      }
      let scheduled = false;

      const pump = () => {
        scheduled = false;
        if (subscriber.closed || options.isClosed()) return;
        let rows: Row[];
        try {
          rows = options.readAfter(cursor, options.pageSize);
        } catch (error) {
          // The poller comes back to a feed that is still behind.
          if (!options.isTransient(error)) subscriber.error(error);
          return;
        }
        for (const row of rows) {
          if (subscriber.closed) return;
          if (keep && !keep(row)) {
            cursor = options.positionOf(row);
            continue;
          }
          let event: RecordedEvent;
          try {
            event = options.toEvent(row);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          cursor = event.globalPosition;
          subscriber.next(event);
        }
        if (rows.length === options.pageSize && !subscriber.closed) {
          scheduled = true;
          setImmediate(pump);
        }
      };

      const feed: Feed = {
        behind: (head) => cursor < head,
        // Never delivered inside append: a subscriber appending while it handles an event
        // must not make others see the new event before the one being delivered.
        schedule: () => {
          if (scheduled) return;
          scheduled = true;
          queueMicrotask(pump);
        },
        fail: (error) => subscriber.error(error),
        complete: () => subscriber.complete(),
      };
      feeds.add(feed);
      startPolling();
      feed.schedule();
      return () => {
        feeds.delete(feed);
        stopPollingIfIdle();
      };
    });

  return {
    observe,
    wake: () => {
      for (const feed of feeds) feed.schedule();
    },
    closeAll: () => {
      for (const feed of [...feeds]) feed.complete();
      feeds.clear();
      stopPollingIfIdle();
    },
  };
};
