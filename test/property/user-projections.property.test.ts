import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createInMemoryReadStore, type EventStore, type RecordedEvent } from '../../src/index.js';
import {
  createProjection,
  defineProjection,
  type ProjectionDefinition,
  type UserProjection,
} from '../../src/projections/index.js';
import { request } from '../support/fixtures.js';
import { projectionSetup } from '../support/projections.js';

const RUNS = { numRuns: 60 };

interface AppHistory {
  requested: number;
  outcomes: Record<string, 'succeeded' | 'failed' | 'running'>;
  failures: { step: string; attempt: number; at: string }[];
  lastRelease: string | null;
}

/** Every kind of handler: nested writes, arrays, a handler that returns the next state. */
const appHistory = defineProjection({
  name: 'app-history',
  version: 1,
  keyOf: (_event, meta) =>
    meta.operation && `${meta.operation.environment}/${meta.operation.resource.handle}`,
  initialState: (): AppHistory => ({ requested: 0, outcomes: {}, failures: [], lastRelease: null }),
  on: {
    OperationRequested(draft, _event, meta) {
      draft.requested += 1;
      draft.outcomes[meta.operation!.id] = 'running';
    },
    StepFailed(draft, event) {
      draft.failures.push({
        step: event.data.step,
        attempt: event.data.attempt,
        at: event.data.at,
      });
    },
    OperationFailed(draft, _event, meta) {
      draft.outcomes[meta.operation!.id] = 'failed';
    },
    OperationSucceeded: (state, event, meta) => ({
      ...state,
      outcomes: { ...state.outcomes, [meta.operation!.id]: 'succeeded' as const },
      lastRelease: event.data.effects?.release ?? state.lastRelease,
    }),
  },
});

/** A global counter of events by type: one document for the whole store. */
const eventCounts = defineProjection({
  name: 'event-counts',
  version: 1,
  keyOf: () => 'all',
  initialState: {} as Record<string, number>,
  on: Object.fromEntries(
    ['OperationRequested', 'StepStarted', 'StepSucceeded', 'StepFailed', 'RollbackFinished'].map(
      (type) => [
        type,
        (draft: Record<string, number>) => {
          draft[type] = (draft[type] ?? 0) + 1;
        },
      ],
    ),
  ),
});

type Command = { env: string; handle: string; fail: boolean; advanceMs: number };
const commandArb: fc.Arbitrary<Command> = fc.record({
  env: fc.constantFrom('production', 'staging'),
  handle: fc.constantFrom('web', 'api'),
  fail: fc.boolean(),
  advanceMs: fc.integer({ min: 0, max: 3 * 86_400_000 }),
});

const allDocuments = async <S>(projection: UserProjection<S>) => {
  const out: { key: string; state: S }[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await projection.list({ limit: 2, ...(after ? { after } : {}) });
    out.push(...page.items);
    if (!page.nextAfter) return out;
    after = page.nextAfter;
  }
};

/** Runs the history with both projections following live, in batches of `batchSize`. */
const runLive = async (commands: readonly Command[], batchSize: number) => {
  const s = projectionSetup();
  const live = [appHistory, eventCounts].map((d) =>
    createProjection(d as ProjectionDefinition<unknown>, {
      store: s.store,
      readStore: s.readStore,
      batchSize,
    }),
  );
  for (const p of live) await p.start();
  let n = 0;
  for (const c of commands) {
    n++;
    s.clock.advance(c.advanceMs);
    await s.run(
      request({
        environment: c.env,
        resource: { type: 'app', handle: c.handle },
        params: { image: `v${n}`, ...(c.fail ? { fail: `failure ${n}` } : {}) },
      }),
    );
  }
  const head = await s.store.headPosition();
  for (const p of live) {
    await p.waitFor(head);
    await p.stop();
  }
  return { s, live };
};

/** The store, delivering again up to `back` events before every position asked for. */
const redelivering = (store: EventStore, back: bigint): EventStore => ({
  ...store,
  readAll: (options) =>
    store.readAll({
      ...options,
      after: (options?.after ?? 0n) > back ? options!.after! - back : 0n,
      ...(options?.maxCount !== undefined ? { maxCount: options.maxCount + Number(back) } : {}),
    }) as Promise<RecordedEvent[]>,
});

const deepFrozenPlain = (value: unknown): boolean => {
  if (value === null || typeof value !== 'object') return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && proto !== Object.prototype) return false;
  return Object.isFrozen(value) && Object.values(value).every(deepFrozenPlain);
};

describe('user-defined projections (properties)', () => {
  it('rebuild equals incremental, for random histories and batch sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 50 }),
        async (commands, liveBatch, rebuildBatch) => {
          const { s, live } = await runLive(commands, liveBatch);
          for (const [i, def] of [appHistory, eventCounts].entries()) {
            const incremental = await allDocuments(live[i]!);
            const fresh = createProjection(def as ProjectionDefinition<unknown>, {
              store: s.store,
              readStore: createInMemoryReadStore(),
              batchSize: rebuildBatch,
            });
            await fresh.catchUp();
            expect(await allDocuments(fresh)).toEqual(incremental);
            await live[i]!.rebuild();
            expect(await allDocuments(live[i]!)).toEqual(incremental);
          }
        },
      ),
      RUNS,
    );
  });

  it('redelivery changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.bigInt({ min: 1n, max: 20n }),
        async (commands, batchSize, back) => {
          const { s, live } = await runLive(commands, batchSize);
          const again = createProjection(appHistory, {
            store: redelivering(s.store, back),
            readStore: createInMemoryReadStore(),
            batchSize,
          });
          // Catch up in steps, every step given events already applied again.
          await again.catchUp();
          await again.catchUp();
          expect(await allDocuments(again)).toEqual(await allDocuments(live[0]!));
          expect(await again.lag()).toBe(0n);
        },
      ),
      RUNS,
    );
  });

  it('states read back are plain, deeply frozen data: no draft escapes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 6 }), async (commands) => {
        const { live } = await runLive(commands, 3);
        for (const projection of live) {
          const docs = await allDocuments(projection);
          expect(docs.length).toBeGreaterThan(0);
          for (const { key, state } of docs) {
            expect(deepFrozenPlain(state)).toBe(true);
            expect(JSON.parse(JSON.stringify(state))).toEqual(state);
            expect(await projection.read(key)).toEqual(state);
            expect(deepFrozenPlain(await projection.read(key))).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });
});
