import type { Subscriber } from 'rxjs';
import type { RecordedEvent } from '../../domain/event-store.js';
import { isConnectionLoss, type ClientPackage } from './client-dialect.js';
import type {
  ClientResolvedEvent,
  ClientSubscription,
  EventStoreDbClient,
} from './client-shape.js';
import { decodeEvent, positionOf } from './event-encoding.js';
import { SubscriptionDroppedError } from './errors.js';
import type { StreamScope } from './stream-scope.js';

export interface AllSubscriptionSource {
  client: EventStoreDbClient;
  pkg: ClientPackage;
  scope: StreamScope;
  /** Global position to deliver after (exclusive); 0n delivers from the start. */
  after: bigint;
  /**
   * How many times in a row to subscribe again after the connection dropped, before failing
   * with SubscriptionDroppedError. A confirmed subscription resets the count.
   */
  maxResubscribes?: number;
}

const DEFAULT_MAX_RESUBSCRIBES = 10;
/** Waits between attempts: 50 ms, doubling, at most 2 s (about 10 s over 10 attempts). */
const backoff = (attempt: number): number => Math.min(50 * 2 ** (attempt - 1), 2_000);

/**
 * Feeds a catch-up subscription to $all into an rxjs subscriber. The server does the catch-up
 * then live hand-over and keeps $all's order; the filter spares the network the system events
 * (or, in a scope, other streams), and the same checks run here again because a filter only
 * sees event types or stream names, never both. Returns what stops it.
 *
 * When the connection drops (the server restarted, or ended the stream without being asked),
 * it subscribes again after the last position it saw, so the subscriber gets every event once:
 * the server's catch-up fills the gap, and anything at or before that position is skipped.
 * Checked over the wire against a server that is killed and restarted mid-subscription
 * (test/support/esdb-wire-faults.ts). Any other error fails the subscriber.
 */
export const pipeAllSubscription = (
  { client, pkg, scope, after, maxResubscribes = DEFAULT_MAX_RESUBSCRIBES }: AllSubscriptionSource,
  subscriber: Subscriber<RecordedEvent>,
): (() => void) => {
  // The last position seen, delivered or not this store's: the next subscription starts after it.
  let last = after;
  let attempts = 0;
  let current: ClientSubscription | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const cancel = (subscription: ClientSubscription | undefined) => {
    // The subscription is being given up: a failure to cancel it has nobody left to tell.
    subscription?.unsubscribe().catch(() => undefined);
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(retry);
    cancel(current);
  };
  const fail = (error: unknown) => {
    if (stopped) return;
    stop();
    subscriber.error(error);
  };

  const open = () => {
    if (stopped) return;
    const subscription = client.subscribeToAll({
      // A subscription starts after its position (exclusive), unlike a read.
      fromPosition: last === 0n ? pkg.START : { commit: last, prepare: last },
      filter: scope.prefix ? pkg.streamNamePrefixFilter(scope.prefix) : pkg.excludeSystemEvents(),
    });
    current = subscription;
    const mine = () => !stopped && current === subscription;

    subscription.on('confirmation', () => {
      if (mine()) attempts = 0;
    });
    subscription.on('data', (resolved: ClientResolvedEvent) => {
      if (!mine()) return;
      const position = positionOf(resolved) ?? 0n;
      if (position <= last) return;
      const streamName = scope.streamNameOf(resolved);
      if (streamName === undefined) {
        last = position;
        return;
      }
      let event: RecordedEvent;
      try {
        event = decodeEvent(resolved, streamName);
      } catch (error) {
        // Never a silent skip: a subscriber that cannot read an event must not move past it.
        fail(error);
        return;
      }
      last = position;
      subscriber.next(event);
    });
    // Nobody asked it to end: the server or the connection dropped it.
    const dropped = (cause?: unknown) => {
      if (!mine()) return;
      current = undefined;
      cancel(subscription);
      if (attempts >= maxResubscribes) {
        fail(new SubscriptionDroppedError(cause));
        return;
      }
      attempts++;
      retry = setTimeout(open, backoff(attempts));
    };
    subscription.on('error', (error: unknown) =>
      isConnectionLoss(error, pkg) ? dropped(error) : fail(error),
    );
    subscription.on('end', () => dropped());
    subscription.on('close', () => dropped());
  };

  open();
  return stop;
};
