import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createInMemoryEventStore,
  StoreUnavailableError,
  type EventData,
} from '../../src/index.js';
import type { StreamWrite } from '../../src/domain/event-store.js';
import { withStoreOutageRetry } from '../../src/engine/index.js';
import { createVirtualClock } from '../../src/testing/index.js';
import { faultScript, faultyEventStore, type Fault } from '../support/faulty-stores.js';

// Issue 17 + 20: every atomic append to several streams made through the outage decorator, over
// any schedule of refused calls and lost answers (the checks' own reads included), is in the
// store exactly once, whole, or fails with a typed error; never twice, never half.

const tagged = (write: number, part: number, n: number): EventData => ({
  type: 'Thing',
  version: 1,
  data: { write, part, n, at: '2026-01-05T00:00:00.000Z' },
});

type Expectation = 'any' | 'exact' | 'stream_exists' | 'omitted';

/** A part: which stream (a shared one or the write's own), how many events, which check. */
const partArb = fc.record({
  stream: fc.constantFrom('queue', 'ledger', 'own'),
  size: fc.integer({ min: 0, max: 3 }),
  expectation: fc.constantFrom<Expectation>('any', 'exact', 'exact', 'stream_exists', 'omitted'),
});

const faultArb = fc.constantFrom<Fault>('ok', 'ok', 'refuse', 'lost');

describe('appendToStreams through the outage decorator (property)', () => {
  it('lands every write exactly once or fails with its typed error, never half', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            parts: fc.array(partArb, { minLength: 1, maxLength: 3 }),
            faults: fc.array(faultArb, { maxLength: 10 }),
            // Another writer's events on the shared streams before the write.
            others: fc.integer({ min: 0, max: 3 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        async (plan) => {
          const inner = createInMemoryEventStore();
          const faults: Fault[] = [];
          const script = faultScript(faults);
          // A budget that long runs of faults exhaust (the delays are virtual).
          const store = withStoreOutageRetry(faultyEventStore(inner, script), {
            clock: createVirtualClock(),
            maxMs: 1_500,
          });
          let other = 0;
          for (const [w, { parts, faults: theirs, others }] of plan.entries()) {
            for (let i = 0; i < others; i++) {
              await inner.append(i % 2 ? 'queue' : 'ledger', [tagged(-1, 0, other++)]);
            }
            // Each part's expected version as the store stands, and as the earlier parts of
            // the same write leave it.
            const revisions = new Map<string, bigint>();
            const revision = async (stream: string) =>
              revisions.get(stream) ?? BigInt((await inner.readStream(stream)).length) - 1n;
            const writes: StreamWrite[] = [];
            for (const [p, part] of parts.entries()) {
              const stream = part.stream === 'own' ? `own-${w}` : part.stream;
              const current = await revision(stream);
              if (part.expectation === 'stream_exists' && current < 0n) continue;
              const events = Array.from({ length: part.size }, (_, n) => tagged(w, p, n));
              writes.push({
                stream,
                events,
                ...(part.expectation === 'omitted'
                  ? {}
                  : {
                      expectedVersion:
                        part.expectation === 'exact'
                          ? current < 0n
                            ? 'no_stream'
                            : current
                          : part.expectation,
                    }),
              });
              revisions.set(stream, current + BigInt(events.length));
            }
            if (writes.length === 0) continue;
            faults.push(...theirs);

            const outcome = await store.appendToStreams!(writes).then(
              (results) => ({ results }),
              (error: unknown) => ({ error }),
            );
            // Whatever is left of this write's faults does not reach the next one.
            faults.splice(script.used);

            // Where each part's events are.
            const all = await inner.readAll();
            const ofPart = (p: number) =>
              all.filter((e) => {
                const d = e.data as { write: number; part: number };
                return d.write === w && d.part === p;
              });
            const counts = writes.map((wr) => {
              const p = (wr.events[0]?.data as { part: number } | undefined)?.part;
              return p === undefined ? undefined : ofPart(p).length / wr.events.length;
            });
            const present = counts.filter((c) => c !== undefined);
            // Whole or absent, and once: every part with events is there once, or none is.
            expect(present.every((c) => c === present[0])).toBe(true);
            expect([0, 1]).toContain(present[0] ?? 0);

            if ('results' in outcome) {
              expect(present.every((c) => c === 1)).toBe(true);
              // The results are where the events are.
              for (const [i, wr] of writes.entries()) {
                const last = wr.events.at(-1);
                if (!last) continue;
                const recorded = all.find(
                  (e) => JSON.stringify(e.data) === JSON.stringify(last.data),
                )!;
                expect(outcome.results[i]).toEqual({
                  nextExpectedRevision: recorded.streamRevision,
                  lastPosition: recorded.globalPosition,
                });
              }
            } else {
              // Only the outage budget can stop a write here: no other writer runs during it.
              expect(outcome.error).toBeInstanceOf(StoreUnavailableError);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
