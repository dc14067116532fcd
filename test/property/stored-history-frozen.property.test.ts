import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createInMemoryEventStore } from '../../src/adapters/memory/index.js';
import { encodeEvent } from '../../src/domain/event-codec.js';
import type { EventData, RecordedEvent } from '../../src/domain/event-store.js';

// Every object reachable from a value: what a caller holding it could try to change.
const objectsIn = (value: unknown, out: object[] = []): object[] => {
  if (value !== null && typeof value === 'object') {
    out.push(value);
    for (const v of Object.values(value)) objectsIn(v, out);
  }
  return out;
};

// Tries every kind of write on every object: sloppy-mode writes on frozen objects are ignored,
// strict-mode ones throw; either way the attempt must leave history as it was.
const vandalise = (value: unknown): void => {
  for (const target of objectsIn(value)) {
    const record = target as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      try {
        record[key] = 'vandalised';
      } catch {
        // frozen: refused, as it should be
      }
      try {
        delete record[key];
      } catch {
        // frozen
      }
    }
    try {
      record.added = 'vandalised';
    } catch {
      // frozen
    }
    if (Array.isArray(target)) {
      try {
        (target as unknown[]).push('vandalised');
      } catch {
        // frozen
      }
    }
  }
};

const readBack = (store: ReturnType<typeof createInMemoryEventStore>): Promise<RecordedEvent[]> =>
  store.readStream('s');

// JSON-like values, nested: what step outputs and event data are made of.
const jsonData = fc.jsonValue({ maxDepth: 4 });

describe('stored history cannot be changed through any reference a caller holds', () => {
  it("the codec's data and a user's data both survive every mutation", async () => {
    await fc.assert(
      fc.asyncProperty(
        jsonData,
        jsonData,
        fc.boolean(),
        async (drawnOutput, drawnData, partlyFrozen) => {
          // Copies: the test vandalises what the caller holds, and fast-check still holds the
          // values it drew (to shrink them); vandalising those broke its shrinker (CI at 35e6152).
          const output = structuredClone(drawnOutput);
          const userData = structuredClone(drawnData);
          const store = createInMemoryEventStore();
          const stepData = { step: 'deploy', attempt: 1, output, at: '2026-12-04T12:00:00.000Z' };
          const encoded = encodeEvent({ type: 'StepSucceeded', data: stepData });
          // A user's data, unfrozen or frozen only at the top (which must not pass for sealed).
          const user = { nested: userData, list: [userData] };
          if (partlyFrozen) Object.freeze(user);
          const userEvent: EventData = { type: 'Custom', version: 1, data: user };
          const snapshot = structuredClone([encoded.data, user]);
          await store.append('s', [encoded, userEvent]);
          const first = await readBack(store);

          // Every reference the caller holds: what it gave to the codec, what the codec gave
          // back, what it appended, and what it read.
          vandalise(stepData);
          vandalise(encoded.data);
          vandalise(user);
          vandalise(first.map((e) => e.data));

          const again = await readBack(store);
          expect(again.map((e) => e.data)).toStrictEqual(snapshot);
        },
      ),
    );
  });
});
