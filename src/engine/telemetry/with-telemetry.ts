import {
  appendNowOf,
  offerAppendNow,
  offerReadStreamNow,
  readStreamNowOf,
  type EventStore,
  type StreamWrite,
} from '../../domain/event-store.js';
import { leaseOfStream, operationIdOfStream } from '../../domain/stream-names.js';
import type { Decode } from '../operation-stream.js';
import { ATTR } from './names.js';
import { createOperationSpans, type TelemetryRole } from './operation-spans.js';
import type { Telemetry } from './telemetry.js';

/**
 * The store as the engine, a worker or a client uses it, with one observer of what it appends:
 * the spans and metrics of docs/telemetry.md come from the events this process appends, once
 * they have landed, so that traces show what the events say and nothing else. Telemetry never
 * fails an append: a fault of its own drops what it was recording, and the append goes on.
 */
export const withTelemetry = (
  store: EventStore,
  telemetry: Telemetry | undefined,
  role: TelemetryRole,
  decode: Decode,
): EventStore => {
  if (!telemetry) return store;
  const spans = createOperationSpans(telemetry, role, store, decode);
  /** The lease each worker identity of this process holds, for the leases gauge. */
  const leases = new Map<string, string>();

  const countLeases: EventStore['append'] = async (stream, events, options) => {
    const result = await store.append(stream, events, options);
    try {
      for (const e of events) {
        const data = e.data as { worker?: string; lease?: string };
        if (e.type === 'WorkerLeaseAcquired' && data.worker && data.lease) {
          // A worker that lost its lease takes a new one: still one lease held.
          if (!leases.has(data.worker))
            telemetry.instruments.leases.add(1, { [ATTR.worker]: data.worker });
          leases.set(data.worker, data.lease);
        } else if (e.type === 'WorkerLeaseReleased') {
          for (const [worker, lease] of leases) {
            if (leaseOfStream(stream) === lease) {
              leases.delete(worker);
              telemetry.instruments.leases.add(-1, { [ATTR.worker]: worker });
            }
          }
        }
      }
    } catch {
      // Telemetry must not fail an append that landed.
    }
    return result;
  };

  /**
   * Whether an append to `stream` passes by untouched: nothing would be recorded, and it is not
   * an operation that was being recorded when the providers went away (that one is followed to
   * its end). The common case, no provider ever registered, is a few property reads: no stream
   * name parsed, no event looked at, no promise of ours.
   */
  const passesBy = (stream: string): boolean =>
    telemetry.isIdle() && (!spans.followsAny() || !spans.follows(operationIdOfStream(stream)));

  /**
   * A write observed: the events of each operation stream it writes prepared (spans begun,
   * trace metadata added), the write made with them, then each told it landed. A stream that is
   * not an operation's, or whose preparing failed, is written as given.
   */
  const observed = async <R>(
    writes: readonly StreamWrite[],
    write: (prepared: StreamWrite[]) => Promise<R>,
  ): Promise<R> => {
    const prepared = await Promise.all(
      writes.map((w) => {
        const id = operationIdOfStream(w.stream);
        return id === undefined ? undefined : spans.prepare(id, w.events).catch(() => undefined);
      }),
    );
    const result = await write(
      writes.map((w, i) => (prepared[i] ? { ...w, events: prepared[i].events } : w)),
    );
    for (const p of prepared) {
      try {
        p?.landed();
      } catch {
        // Telemetry must not fail an append that landed.
      }
    }
    return result;
  };

  const observe: EventStore['append'] = (stream, events, options) => {
    if (operationIdOfStream(stream) === undefined) {
      return role === 'worker'
        ? countLeases(stream, events, options)
        : store.append(stream, events, options);
    }
    return observed([{ stream, events }], ([write]) =>
      store.append(stream, write!.events, options),
    );
  };

  const wrapped: EventStore = {
    ...(store.outage ? { outage: store.outage } : {}),
    // Not async: an append that passes by returns the store's own promise.
    append: (stream, events, options) =>
      passesBy(stream) ? store.append(stream, events, options) : observe(stream, events, options),
    ...(store.appendToStreams
      ? {
          appendToStreams: (writes) => {
            const appendToStreams = store.appendToStreams!.bind(store);
            // The same observer as append's, for each operation stream of the atomic append (a
            // request written with its queue place).
            return writes.every((w) => passesBy(w.stream))
              ? appendToStreams(writes)
              : observed(writes, appendToStreams);
          },
        }
      : {}),
    readStream: (stream, readOptions) => store.readStream(stream, readOptions),
    readAll: (readOptions) => store.readAll(readOptions),
    headPosition: () => store.headPosition(),
    ...(store.currentTime ? { currentTime: () => store.currentTime!() } : {}),
    subscribe: (subscribeOptions) => store.subscribe(subscribeOptions),
    close: () => store.close(),
  };
  // A store that appends synchronously keeps doing so while nothing is recorded; an append that
  // must be observed is "not now", and goes through `append` above.
  if (appendNowOf(store)) {
    offerAppendNow(wrapped, (stream, events, options) =>
      passesBy(stream) ? appendNowOf(store)?.(stream, events, options) : undefined,
    );
  }
  // Reads are never observed.
  if (readStreamNowOf(store)) {
    offerReadStreamNow(wrapped, (stream, options) => readStreamNowOf(store)?.(stream, options));
  }
  return wrapped;
};
