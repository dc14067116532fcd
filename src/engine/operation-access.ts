import { concat, defer, map, type Observable } from 'rxjs';
import type { Authorize } from '../domain/authorization.js';
import type { EventStore } from '../domain/event-store.js';
import type { LogLine } from '../domain/log-lines.js';
import { systemClock } from './clock.js';
import { createEngine, type CancelOutcome, type Engine } from './engine.js';
import type { OperationResult } from './operation-result.js';
import { operationStreamName } from '../domain/stream-names.js';

/**
 * What `operation:follow` and `operation:cancel` (and the dashboard) do to an operation that
 * another process may be running: they work on the events, not on the read model.
 */

/** An engine that runs nothing: it follows and cancels operations written by any process. */
export const observerEngine = (store: EventStore, authorize?: Authorize): Engine =>
  createEngine({ store, operations: [], ...(authorize ? { authorize } : {}) });

export type FollowEvent =
  { kind: 'log'; line: LogLine } | { kind: 'result'; result: OperationResult };

/**
 * The lines of an operation so far, then live ones as any process writes them (the engine's
 * log stream, checked with `operation:follow` for `actor`), then how it ended.
 */
export const followFeed = (engine: Engine, id: string, actor?: unknown): Observable<FollowEvent> =>
  concat(
    engine.logs(id, { actor }).pipe(map((line) => ({ kind: 'log' as const, line }))),
    defer(() => engine.result(id)).pipe(map((result) => ({ kind: 'result' as const, result }))),
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
  const engine = createEngine({ store, operations: [], clock });
  return engine.cancel(id, { user });
};
