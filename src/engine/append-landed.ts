import type { AppendResult, EventData, RecordedEvent } from '../domain/event-store.js';
import { ownValue } from '../domain/own-keys.js';

// How an append whose answer was lost finds out whether it landed: the events it sent are
// looked for in the stream, compared as JSON the way a store gives them back.

/** How far back an append with no expected revision looks for itself after a lost answer. */
export const LANDED_SEARCH_WINDOW = 200;

/** JSON as a store gives it back: keys in any order (jsonb sorts them), undefined dropped. */
const canonical = (value: unknown): string =>
  JSON.stringify(
    value === undefined ? null : JSON.parse(JSON.stringify(value)),
    (_k, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : v,
  );

/** The recorded event is the one sent: same type, version, data, and the metadata sent. */
const sameEvent = (sent: EventData, recorded: RecordedEvent): boolean =>
  sent.type === recorded.type &&
  sent.version === recorded.version &&
  canonical(sent.data) === canonical(recorded.data) &&
  Object.entries(sent.metadata ?? {}).every(
    ([key, value]) => canonical(value) === canonical(ownValue(recorded.metadata, key)),
  );

/** Where `batch` sits in `recorded` (forwards), as an AppendResult, if it does. */
export const findBatch = (
  recorded: readonly RecordedEvent[],
  batch: readonly EventData[],
  at: 'start' | 'anywhere',
): AppendResult | undefined => {
  if (batch.length === 0) return undefined;
  const last = at === 'start' ? 0 : recorded.length - batch.length;
  for (let i = 0; i <= last; i++) {
    if (batch.every((e, k) => recorded[i + k] !== undefined && sameEvent(e, recorded[i + k]!))) {
      const end = recorded[i + batch.length - 1]!;
      return { nextExpectedRevision: end.streamRevision, lastPosition: end.globalPosition };
    }
  }
  return undefined;
};
