import type { Notification, Pool, PoolClient } from 'pg';
import { quoteIdentifier } from './connection.js';

/** Called when events after `hint` (a global position) may be readable; no hint: maybe any. */
export type Wake = (hint?: bigint) => void;

export interface LiveFeed {
  /** Registers a subscriber's wake-up; the returned function removes it. */
  add(wake: Wake): () => void;
  /** Wakes every subscriber, e.g. after this process appended up to `hint`. */
  wakeAll(hint?: bigint): void;
  /** Stops listening and polling; later `add` calls are ignored. */
  close(): void;
}

export interface LiveFeedOptions {
  pool: Pool;
  channel: string;
  pollIntervalMs: number;
  /**
   * The store's head position read on `db`, polled so that a lost notification never loses an
   * event. The poll runs on the listening connection while there is one: see `poll`.
   */
  head: (db: Pool | PoolClient) => Promise<bigint>;
}

const parseHint = (payload: string | undefined): bigint | undefined => {
  try {
    return payload ? BigInt(payload) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Tells a store's subscribers when to read: LISTEN/NOTIFY for low latency, plus a poll of the
 * head position in case a notification is lost (listening connection dropped, server restart).
 * A notification only says "read again": subscribers always read the table, so nothing depends
 * on notifications arriving. The listening connection and the timer exist only while someone
 * is subscribed, so an idle store keeps no handle open.
 *
 * The poll reads the head on the listening connection itself, so that it also checks that
 * connection: one that was black-holed (its server gone without a reset, a partition) would
 * otherwise sit idle, hearing nothing, for as long as TCP keepalive takes to notice. The
 * pool's silence timeout (queryTimeoutMs) closes it under the poll, and the next tick listens
 * again on a new connection; subscribers read from their own cursor, so nothing is lost or
 * repeated across the change.
 */
export const createLiveFeed = (options: LiveFeedOptions): LiveFeed => {
  const { pool, channel, pollIntervalMs } = options;
  const wakes = new Set<Wake>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let listener: PoolClient | undefined;
  let connecting = false;
  let polling = false;
  let closed = false;

  const wakeAll = (hint?: bigint) => {
    for (const wake of [...wakes]) wake(hint);
  };

  const onNotification = (message: Notification) => {
    if (message.channel === channel) wakeAll(parseHint(message.payload));
  };

  // A LISTENing connection must not go back to the pool: release(true) closes it.
  const discard = (client: PoolClient) => {
    client.off('notification', onNotification);
    try {
      client.release(true);
    } catch {
      // Already released after an error: nothing left to free.
    }
  };

  const stopListening = () => {
    const client = listener;
    listener = undefined;
    if (client) discard(client);
  };

  const listen = async () => {
    if (listener || connecting || closed || wakes.size === 0) return;
    connecting = true;
    let client: PoolClient | undefined;
    try {
      client = await pool.connect();
      const own = client;
      own.on('error', () => {
        // The next poll notices the listener is gone and listens again.
        if (listener === own) stopListening();
      });
      own.on('notification', onNotification);
      await own.query(`LISTEN ${quoteIdentifier(channel, 'channel')}`);
      if (closed || wakes.size === 0) {
        discard(own);
        return;
      }
      listener = own;
      // Events committed before LISTEN took effect raised notifications nobody heard.
      wakeAll();
    } catch {
      if (client && listener !== client) discard(client);
      // Polling goes on delivering; the next tick tries to listen again.
    } finally {
      connecting = false;
    }
  };

  const poll = async () => {
    void listen();
    if (polling) return;
    polling = true;
    try {
      wakeAll(await options.head(listener ?? pool));
    } catch {
      // A failed poll is retried at the next tick; subscribers' own reads report real errors.
    } finally {
      polling = false;
    }
  };

  const stop = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
    stopListening();
  };

  return {
    add(wake) {
      if (closed) return () => undefined;
      wakes.add(wake);
      if (!timer) {
        timer = setInterval(() => void poll(), pollIntervalMs);
        void listen();
      }
      return () => {
        wakes.delete(wake);
        if (wakes.size === 0) stop();
      };
    },
    wakeAll,
    close() {
      closed = true;
      wakes.clear();
      stop();
    },
  };
};
