import { concat, defer, map, type Observable } from 'rxjs';
import type { Authorize } from '../domain/authorization.js';
import type { EventStore } from '../domain/event-store.js';
import type { LogLine } from '../domain/log-lines.js';
import { systemClock } from './clock.js';
import { createClient, type Client, type ClientOptions } from './client.js';
import type { CancelOutcome } from './engine-api.js';
import type { OperationResult } from './operation-result.js';
import { operationStreamName } from '../domain/stream-names.js';

/**
 * What `operation:follow` and `operation:cancel` (and the dashboard) do to an operation that
 * another process may be running: they work on the events, not on the read model.
 */

/**
 * A client: it follows and cancels operations written by any process, and runs nothing. (An
 * engine with no definitions did this before; its `recover()` would have failed every
 * operation it found, so nothing here may hold one.)
 */
export const observerClient = (
  store: EventStore,
  authorize?: Authorize,
  storeOutage?: ClientOptions['storeOutage'],
): Client =>
  createClient({
    store,
    ...(authorize ? { authorize } : {}),
    ...(storeOutage ? { storeOutage } : {}),
  });

export type FollowEvent =
  { kind: 'log'; line: LogLine } | { kind: 'result'; result: OperationResult };

/**
 * The lines of an operation so far, then live ones as any process writes them (the client's
 * log stream, checked with `operation:follow` for `actor`), then how it ended.
 */
export const followFeed = (
  client: Pick<Client, 'logs' | 'result'>,
  id: string,
  actor?: unknown,
): Observable<FollowEvent> =>
  concat(
    client.logs(id, { actor }).pipe(map((line) => ({ kind: 'log' as const, line }))),
    defer(() => client.result(id)).pipe(map((result) => ({ kind: 'result' as const, result }))),
  );

/**
 * Requests cancellation of an operation, whichever process runs it. The process running it may
 * keep another time than this one (another machine's clock, or a clock that runs ahead of the
 * wall clock), and an operation's events are in time order: the cancel is stamped no earlier
 * than the operation's last event. Throws OperationEndedError when it has already ended,
 * OperationNotFoundError for an unknown id.
 */
export const cancelOperation = async (
  store: EventStore,
  id: string,
  user: string,
  storeOutage?: ClientOptions['storeOutage'],
): Promise<CancelOutcome> => {
  const [last] = await store.readStream(operationStreamName(id), {
    direction: 'backwards',
    maxCount: 1,
  });
  const lastAt = Date.parse(String((last?.data as { at?: unknown } | undefined)?.at ?? ''));
  const clock = {
    ...systemClock,
    now: () => new Date(Math.max(Date.now(), Number.isNaN(lastAt) ? 0 : lastAt + 1)),
  };
  return createClient({ store, clock, ...(storeOutage ? { storeOutage } : {}) }).cancel(id, {
    user,
  });
};
