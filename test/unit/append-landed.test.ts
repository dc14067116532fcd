import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventData, RecordedEvent } from '../../src/domain/event-store.js';
import { findBatch } from '../../src/engine/append-landed.js';

const recordedAs = (event: EventData, revision: number): RecordedEvent => ({
  ...event,
  streamName: 's',
  streamRevision: BigInt(revision),
  globalPosition: BigInt(100 + revision),
  recordedAt: new Date(0),
});

// (A null value is taken as absent, as a store may drop it.)
// Metadata keys a lookup could find on Object.prototype, mixed with any others.
const key = fc.oneof(fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype)), fc.string());

describe('findBatch, for any metadata keys', () => {
  it('finds an event whose metadata was recorded, and not one recorded without it', () => {
    fc.assert(
      fc.property(
        key,
        fc.jsonValue().filter((v) => v !== null),
        (name, value) => {
          const sent: EventData = {
            type: 'T',
            version: 1,
            data: { n: 1 },
            metadata: Object.fromEntries([[name, value]]),
          };
          const other: EventData = { type: 'T', version: 1, data: { n: 1 }, metadata: {} };
          expect(findBatch([recordedAs(other, 0)], [sent], 'anywhere')).toBeUndefined();
          expect(
            findBatch([recordedAs(other, 0), recordedAs(sent, 1)], [sent], 'anywhere'),
          ).toEqual({
            nextExpectedRevision: 1n,
            lastPosition: 101n,
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
