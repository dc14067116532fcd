/**
 * A projector whose event store and read store fail for transient reasons at any call (refused
 * connections, answers lost after a commit, live subscriptions cut) ends with the read models a
 * rebuild on sound stores gives: no event skipped, none applied twice.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createInMemoryReadStore, type EventStore, type ReadStore } from '../../src/index.js';
import {
  createProjection,
  createProjector,
  defineProjection,
  type ProjectorOutageOptions,
} from '../../src/projections/index.js';
import { request } from '../support/fixtures.js';
import {
  faultScript,
  faultyEventStore,
  faultyReadStore,
  type Fault,
} from '../support/faulty-stores.js';
import { projectionSetup } from '../support/projections.js';
import { dumpReadStore } from '../support/read-store-dump.js';

const ENVS = ['production', 'staging'];

// Not idempotent on purpose: an event applied twice counts twice.
const eventsSeen = defineProjection({
  name: 'events-seen',
  version: 1,
  keyOf: (_event, meta) => meta.operation?.environment,
  initialState: { steps: 0, lines: 0, positions: [] as string[] },
  on: {
    StepStarted(draft, _event, meta) {
      draft.steps += 1;
      draft.positions.push(meta.position.toString());
    },
    LogWritten(draft, _event, meta) {
      draft.lines += 1;
      draft.positions.push(meta.position.toString());
    },
  },
});

// Fast enough for a property: the budget is never reached by these scripts.
const OUTAGE: ProjectorOutageOptions = {
  maxMs: 60_000,
  backoff: { initialDelayMs: 1, maxDelayMs: 2 },
};

const fault = fc.constantFrom<Fault>('ok', 'ok', 'refuse', 'lost', 'lost');
// Long enough to reach the transactions: a catch-up's first calls read its checkpoint and skips.
const faults = fc.array(fault, { minLength: 8, maxLength: 60 });
const runs = fc.array(
  fc.record({
    environment: fc.constantFrom(...ENVS),
    fail: fc.boolean(),
  }),
  { minLength: 1, maxLength: 5 },
);

const runAll = async (
  s: ReturnType<typeof projectionSetup>,
  list: { environment: string; fail: boolean }[],
) => {
  for (const [i, r] of list.entries()) {
    await s.run(
      request({
        environment: r.environment,
        params: { image: `v${i}`, ...(r.fail ? { fail: 'unhealthy' } : {}) },
      }),
    );
  }
};

const documents = async (store: EventStore, readStore: ReadStore) => {
  const p = createProjection(eventsSeen, { store, readStore });
  return Promise.all(ENVS.map((env) => p.read(env)));
};

/** What sound stores give for the same events. */
const rebuilt = async (store: EventStore) => {
  const readStore = createInMemoryReadStore();
  await createProjector({ store, readStore }).catchUp();
  await createProjection(eventsSeen, { store, readStore }).catchUp();
  return { dump: await dumpReadStore(readStore, ENVS), docs: await documents(store, readStore) };
};

describe('a projector through transient store failures', () => {
  it('catching up: the read models equal a rebuild, each event applied once', async () => {
    await fc.assert(
      fc.asyncProperty(
        runs,
        faults,
        faults,
        faults,
        fc.integer({ min: 1, max: 7 }),
        async (list, eventFaults, readFaults, userFaults, batchSize) => {
          const s = projectionSetup();
          await runAll(s, list);
          const inner = createInMemoryReadStore();
          const events = faultyEventStore(s.store, faultScript(eventFaults));
          const storeOutage = OUTAGE;
          await createProjector({
            store: events,
            readStore: faultyReadStore(inner, faultScript(readFaults)),
            batchSize,
            storeOutage,
          }).catchUp();
          // Its own script: the built-in projector above must not use up the faults.
          await createProjection(eventsSeen, {
            store: events,
            readStore: faultyReadStore(inner, faultScript(userFaults)),
            batchSize,
            storeOutage,
          }).catchUp();
          const expected = await rebuilt(s.store);
          expect(await dumpReadStore(inner, ENVS)).toEqual(expected.dump);
          expect(await documents(s.store, inner)).toEqual(expected.docs);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('live: a subscription cut and resumed delivers every event once', async () => {
    await fc.assert(
      fc.asyncProperty(
        runs,
        runs,
        faults,
        faults,
        faults,
        async (before, during, eventFaults, readFaults, userFaults) => {
          const s = projectionSetup();
          await runAll(s, before);
          const inner = createInMemoryReadStore();
          const events = faultyEventStore(s.store, faultScript(eventFaults));
          const options = { store: events, batchSize: 3, storeOutage: OUTAGE };
          const projector = createProjector({
            ...options,
            readStore: faultyReadStore(inner, faultScript(readFaults)),
          });
          const user = createProjection(eventsSeen, {
            ...options,
            readStore: faultyReadStore(inner, faultScript(userFaults)),
          });
          await Promise.all([projector.start(), user.start()]);
          await runAll(s, during);
          const head = await s.store.headPosition();
          await Promise.all([projector.waitFor(head), user.waitFor(head)]);
          await Promise.all([projector.stop(), user.stop()]);
          const expected = await rebuilt(s.store);
          expect(await dumpReadStore(inner, ENVS)).toEqual(expected.dump);
          expect(await documents(s.store, inner)).toEqual(expected.docs);
        },
      ),
      { numRuns: 40 },
    );
  });
});
