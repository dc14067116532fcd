import type { z } from 'zod';
import { InvalidEventError, StoredEventError, type StoredEventProblem } from './errors.js';
import type { EventData, RecordedEvent } from './event-store.js';
import { eventSchemas, eventVersions, type DomainEvent, type EventType } from './events.js';
import { compileFastParse, DECLINED, type FastParse } from './schema-fast-path.js';
import { builtInUpcasters, type Upcaster } from './upcasters.js';

// Upcaster lives beside the built-in upcasters (so the two modules do not import each other);
// it stays exported from here, where the decoder that runs it is.
export type { Upcaster };

const formatIssues = (error: z.ZodError): string =>
  error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');

const schemaOf = (type: string) =>
  Object.hasOwn(eventSchemas, type) ? eventSchemas[type as EventType] : undefined;

/** zod's checks without zod's cost, for the events read back (schema-fast-path.ts). */
const fastParsers = new Map<string, FastParse | undefined>(
  Object.entries(eventSchemas).map(([type, schema]) => [type, compileFastParse(schema)]),
);

/**
 * What decoding a type needs, found with one look-up per event (a rebuild decodes every event
 * of the store: the schema, version and fast path were three look-ups, one an Object.hasOwn).
 */
interface TypeDecoding {
  schema: z.ZodType;
  current: number;
  fast: FastParse | undefined;
}
const decodings = new Map<string, TypeDecoding>(
  Object.entries(eventSchemas).map(([type, schema]) => [
    type,
    { schema, current: eventVersions[type as EventType], fast: fastParsers.get(type) },
  ]),
);

/**
 * Validates a domain event against its type's schema and gives the data to append, with the
 * type's current version; throws an `InvalidEventError` for an event that does not match.
 *
 * @example
 * ```ts
 * import { encodeEvent } from 'opledger/domain';
 *
 * const data = encodeEvent({ type: 'OperationStarted', data: { operationId: 'op-1', at } });
 * await store.append('operation-op-1', [data]);
 * ```
 */
export const encodeEvent = (event: DomainEvent): EventData => {
  const schema = schemaOf(event.type);
  if (!schema) throw new InvalidEventError(event.type, 'unknown event type');
  // The read path's fast path on the write too: it accepts only what zod accepts and gives
  // zod's output, and declines anything else to zod (whose error is the one raised). An
  // engine writes 16 events per five-step operation; zod's run of each was a row of its profile.
  const fast = fastParsers.get(event.type)?.(event.data) ?? DECLINED;
  if (fast !== DECLINED)
    return { type: event.type, version: eventVersions[event.type], data: fast };
  const parsed = schema.safeParse(event.data);
  if (!parsed.success) throw new InvalidEventError(event.type, formatIssues(parsed.error));
  return { type: event.type, version: eventVersions[event.type], data: parsed.data };
};

/**
 * A decoder of recorded events: upcasts an older version (the built-in upcasters, then
 * `upcasters`, which may replace one) and validates it, or throws a `StoredEventError`.
 *
 * @example
 * ```ts
 * import { createEventDecoder } from 'opledger/domain';
 *
 * const decode = createEventDecoder();
 * for await (const recorded of store.readStream('operation-op-1')) console.log(decode(recorded).type);
 * ```
 */
// At module level, not a closure made for every event decoded: a rebuild decodes every event of
// the store, and the closure was a measurable share of it (bench/RESULTS.md, rebuild profile).
const storedEventError = (
  recorded: RecordedEvent,
  code: 'UNKNOWN_EVENT_TYPE' | 'INVALID_STORED_EVENT',
  problem: string,
  kind?: StoredEventProblem,
) =>
  new StoredEventError(
    code,
    recorded.streamName,
    recorded.globalPosition,
    recorded.streamRevision,
    problem,
    kind,
  );

export const createEventDecoder = (upcasters: readonly Upcaster[] = []) => {
  // The user's upcasters may replace a built-in one for the same type and version.
  const byKey = new Map(
    [...builtInUpcasters, ...upcasters].map((u) => [`${u.type}@${u.fromVersion}`, u]),
  );
  return (recorded: RecordedEvent): DomainEvent => {
    const decoding = decodings.get(recorded.type);
    if (!decoding)
      throw storedEventError(
        recorded,
        'UNKNOWN_EVENT_TYPE',
        `unknown event type '${recorded.type}'`,
      );
    const { schema, current, fast: fastParse } = decoding;
    let { version, data } = recorded;
    if (!Number.isSafeInteger(version)) {
      throw storedEventError(
        recorded,
        'INVALID_STORED_EVENT',
        `'${recorded.type}' has no valid version (${String(version)})`,
      );
    }
    while (version < current) {
      const upcaster = byKey.get(`${recorded.type}@${version}`);
      if (!upcaster) {
        throw storedEventError(
          recorded,
          'INVALID_STORED_EVENT',
          `'${recorded.type}' is at version ${version}, current is ${current}, and no upcaster handles version ${version}`,
          'old_version',
        );
      }
      try {
        data = upcaster.upcast(data);
      } catch (error) {
        throw storedEventError(
          recorded,
          'INVALID_STORED_EVENT',
          `the upcaster of '${recorded.type}' from version ${version} failed: ${error instanceof Error ? error.message : String(error)}`,
          'schema_mismatch',
        );
      }
      version += 1;
    }
    if (version > current) {
      throw storedEventError(
        recorded,
        'INVALID_STORED_EVENT',
        `'${recorded.type}' is at version ${version}, newer than this code's ${current}`,
        'newer_version',
      );
    }
    // An event the fast path is unsure of (or rejects) is zod's to judge, and to explain.
    const fast = fastParse?.(data) ?? DECLINED;
    if (fast !== DECLINED) return { type: recorded.type, data: fast } as DomainEvent;
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      throw storedEventError(
        recorded,
        'INVALID_STORED_EVENT',
        `'${recorded.type}' ${formatIssues(parsed.error)}`,
        'schema_mismatch',
      );
    }
    return { type: recorded.type, data: parsed.data } as DomainEvent;
  };
};

export const decodeEvent = createEventDecoder();
