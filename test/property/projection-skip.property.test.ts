import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createInMemoryEventStore,
  createInMemoryReadStore,
  StoredEventError,
  type EventStore,
} from '../../src/index.js';
import { createProjector } from '../../src/projections/index.js';
import { request } from '../support/fixtures.js';
import { projectionSetup } from '../support/projections.js';
import { dumpReadStore } from '../support/read-store-dump.js';

const ENVS = ['production', 'staging'];

/** The same events at the same positions, the chosen ones' data replaced by data off its schema. */
const corruptCopy = async (source: EventStore, bad: ReadonlySet<bigint>) => {
  const copy = createInMemoryEventStore();
  for (const e of await source.readAll()) {
    await copy.append(e.streamName, [
      {
        type: e.type,
        version: e.version,
        data: bad.has(e.globalPosition) ? { corrupted: true } : e.data,
        ...(e.metadata ? { metadata: e.metadata } : {}),
      },
    ]);
  }
  return copy;
};

/** The store as if the chosen events had never been read: same positions, those left out. */
const without = (store: EventStore, bad: ReadonlySet<bigint>): EventStore => ({
  ...store,
  readAll: async (options) =>
    (await store.readAll(options)).filter((e) => !bad.has(e.globalPosition)),
});

describe('skipping unreadable events on record (property)', () => {
  it('gives, at any batch size and after a rebuild, the read model of the store without those events', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            env: fc.constantFrom(...ENVS),
            handle: fc.constantFrom('web', 'api'),
            fail: fc.boolean(),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.integer({ min: 1, max: 40 }),
        async (deploys, picks, batchSize) => {
          const s = projectionSetup();
          for (const d of deploys) {
            await s.run(
              request({
                environment: d.env,
                resource: { type: 'app', handle: d.handle },
                params: { image: 'v1', ...(d.fail ? { fail: 'GET / answered 503' } : {}) },
              }),
            );
          }
          // Events the read models read: those of operation streams.
          const readable = (await s.store.readAll())
            .filter((e) => e.streamName.startsWith('operation-'))
            .map((e) => e.globalPosition);
          const bad = new Set(picks.map((p) => readable[p % readable.length] as bigint));
          const store = await corruptCopy(s.store, bad);

          const readStore = createInMemoryReadStore();
          const projector = createProjector({ store, readStore, batchSize });
          const skipped: bigint[] = [];
          for (;;) {
            try {
              await projector.catchUp();
              break;
            } catch (error) {
              if (!(error instanceof StoredEventError)) throw error;
              // The read models stop right at the bad event, never before nor past it.
              expect(bad.has(error.position)).toBe(true);
              expect(await projector.checkpoint()).toBeLessThan(error.position);
              await projector.skip(error.position, { user: 'ops@example.com', reason: 'test' });
              skipped.push(error.position);
            }
          }
          expect(skipped).toEqual([...bad].sort((a, b) => (a < b ? -1 : 1)));

          const reference = createInMemoryReadStore();
          await createProjector({ store: without(store, bad), readStore: reference }).catchUp();
          const expected = await dumpReadStore(reference, ENVS);
          expect(await dumpReadStore(readStore, ENVS)).toEqual(expected);
          await projector.rebuild();
          expect(await dumpReadStore(readStore, ENVS)).toEqual(expected);
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});
