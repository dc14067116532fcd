/**
 * What the engine's append benchmarks (bench/atomic-request.ts, bench/workloads/engine.ts) and
 * the engine-appends tests share: the five no-op steps of the engine benchmark, and a store that
 * counts its commits.
 */
import type { EventStore } from '../../src/domain/event-store.js';
import { step } from '../../src/domain/operation-definition.js';

const noop = () => undefined;

/** Five steps that do nothing, of every kind, as an operation that changes nothing would be. */
export const NOOP_STEPS = [
  step({ name: 'validate', kind: 'no_side_effects', run: noop }),
  step({ name: 'pull image', run: noop, undo: noop }),
  step({ name: 'start', run: noop, undo: noop }),
  step({ name: 'switch traffic', run: noop, undo: noop }),
  step({ name: 'clean up', kind: 'irreversible', run: noop }),
];

/**
 * `inner` counting its commits: each append is one, and an atomic append to several streams
 * (a request with its queue place) is one as well. With `recordAppends`, each append's stream
 * and event types are kept too (one record per stream of an atomic append). With `atomic:
 * false`, `appendToStreams` is hidden, as the engine's outage decorator hid it before issue 17
 * + 20 (two appends per request).
 */
export const countingStore = (
  inner: EventStore,
  { atomic = true, recordAppends = true }: { atomic?: boolean; recordAppends?: boolean } = {},
) => {
  const appends: { stream: string; types: string[] }[] = [];
  const commits = { count: 0 };
  const store: EventStore = {
    ...inner,
    append: (stream, events, options) => {
      commits.count += 1;
      if (recordAppends) appends.push({ stream, types: events.map((e) => e.type) });
      return inner.append(stream, events, options);
    },
    appendToStreams: atomic
      ? (writes) => {
          commits.count += 1;
          if (recordAppends) {
            for (const w of writes)
              appends.push({ stream: w.stream, types: w.events.map((e) => e.type) });
          }
          return inner.appendToStreams!(writes);
        }
      : undefined,
  };
  return { store, appends, commits };
};
