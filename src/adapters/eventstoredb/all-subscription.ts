import type { Subscriber } from 'rxjs';
import type { RecordedEvent } from '../../domain/event-store.js';
import type { ClientPackage } from './client-dialect.js';
import type { ClientResolvedEvent, EventStoreDbClient } from './client-shape.js';
import { decodeEvent, positionOf } from './event-encoding.js';
import { SubscriptionDroppedError } from './errors.js';
import type { StreamScope } from './stream-scope.js';

export interface AllSubscriptionSource {
  client: EventStoreDbClient;
  pkg: ClientPackage;
  scope: StreamScope;
  /** Global position to deliver after (exclusive); 0n delivers from the start. */
  after: bigint;
}

/**
 * Feeds a catch-up subscription to $all into an rxjs subscriber. The server does the catch-up
 * then live hand-over and keeps $all's order; the filter spares the network the system events
 * (or, in a scope, other streams), and the same checks run here again because a filter only
 * sees event types or stream names, never both. Returns what stops it.
 */
export const pipeAllSubscription = (
  { client, pkg, scope, after }: AllSubscriptionSource,
  subscriber: Subscriber<RecordedEvent>,
): (() => void) => {
  const subscription = client.subscribeToAll({
    // A subscription starts after its position (exclusive), unlike a read.
    fromPosition: after === 0n ? pkg.START : { commit: after, prepare: after },
    filter: scope.prefix ? pkg.streamNamePrefixFilter(scope.prefix) : pkg.excludeSystemEvents(),
  });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    // The subscription is being given up: a failure to cancel it has nobody left to tell.
    subscription.unsubscribe().catch(() => undefined);
  };
  const fail = (error: unknown) => {
    if (stopped) return;
    stop();
    subscriber.error(error);
  };

  subscription.on('data', (resolved: ClientResolvedEvent) => {
    if (stopped) return;
    const streamName = scope.streamNameOf(resolved);
    if (streamName === undefined || (positionOf(resolved) ?? 0n) <= after) return;
    let event: RecordedEvent;
    try {
      event = decodeEvent(resolved, streamName);
    } catch (error) {
      // Never a silent skip: a subscriber that cannot read an event must not move past it.
      fail(error);
      return;
    }
    subscriber.next(event);
  });
  subscription.on('error', fail);
  // Nobody asked it to end: the server or the connection dropped it.
  const dropped = () => fail(new SubscriptionDroppedError());
  subscription.on('end', dropped);
  subscription.on('close', dropped);
  return stop;
};
