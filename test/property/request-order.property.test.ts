import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  type EventStore,
} from '../../src/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { request } from '../support/fixtures.js';
import { requestOrder, runOrder } from '../support/request-order.js';

/**
 * Several engines share one store and race requests on one resource. Every append waits for
 * the scheduler before it reaches the store, so requests in flight interleave in every way
 * fast-check can find: a start() stalled between its writes, another one overtaking it.
 */
describe('request order across engines sharing a store', () => {
  it('property: operations run in the order the store gave their requests, and none is overtaken by a request made after it was seen', async () => {
    const requestArb = fc.record({
      engine: fc.nat({ max: 2 }),
      // The resource of the race, or another one that runs beside it.
      other: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 2, max: 3 }),
        fc.array(requestArb, { minLength: 2, maxLength: 6 }),
        async (s, engineCount, requests) => {
          const inner = createInMemoryEventStore();
          const journal: string[] = [];
          /** Operations whose OperationRequested is in the store: anyone could read them. */
          const visible = new Set<string>();
          const store: EventStore = {
            ...inner,
            append: async (stream, events, options) => {
              await s.schedule(Promise.resolve(), `append to ${stream}`);
              const result = await inner.append(stream, events, options);
              if (events.some((e) => e.type === 'OperationRequested')) {
                visible.add(stream.slice('operation-'.length));
              }
              return result;
            },
          };
          const op = defineOperation({
            type: 'deploy',
            steps: [
              step({
                name: 'work',
                run: async ({ operationId }) => {
                  journal.push(`start ${operationId}`);
                  // Lets anything else run meanwhile: two operations holding the resource at
                  // once would interleave here.
                  await s.schedule(Promise.resolve(), `work of ${operationId}`);
                  journal.push(`end ${operationId}`);
                },
                undo: () => undefined,
              }),
            ],
          });
          const engines = Array.from({ length: engineCount }, (_, i) =>
            createEngine({
              store,
              operations: [op],
              clock: createVirtualClock(),
              // Ids of different engines say nothing about the request order.
              ids: createSequentialIds(`e${i}-`),
            }),
          );

          const resolved = new Set<string>();
          const before: { id: string; resolved: Set<string>; visible: Set<string> }[] = [];
          const calls = requests.map(async (r, i) => {
            await s.schedule(Promise.resolve(), `start request ${i}`);
            const seen = { resolved: new Set(resolved), visible: new Set(visible) };
            const engine = engines[r.engine % engineCount]!;
            const handle = await engine.start(
              r.other ? request({ resource: { type: 'app', handle: 'api' } }) : request(),
            );
            resolved.add(handle.id);
            before.push({ id: handle.id, ...seen });
            return handle.result;
          });
          const results = await s.waitFor(Promise.all(calls));
          expect(results.map((r) => r.status)).toEqual(results.map(() => 'succeeded'));

          for (const handle of ['web', 'api']) {
            const order = await requestOrder(inner, 'production', { type: 'app', handle });
            const ran = runOrder(journal, order);
            // Nothing overlapped, and operations ran in the store's order of their requests.
            expect(ran).toEqual(order);
            for (const { id, resolved: done, visible: seen } of before) {
              if (!order.includes(id)) continue;
              const place = order.indexOf(id);
              // A request whose start() had resolved, or whose operation could already be
              // read, before this start() was called, runs before it.
              for (const earlier of [...done, ...seen].filter((e) => order.includes(e))) {
                expect(order.indexOf(earlier), `${earlier} before ${id}`).toBeLessThan(place);
              }
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
