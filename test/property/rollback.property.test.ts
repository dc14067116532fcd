import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  defineOperation,
  step,
  createInMemoryEventStore,
  type Engine,
  type EventStore,
  type NotUndone,
  type OperationEvent,
  type OperationResult,
} from '../../src/index.js';
import { createEventDecoder, foldOperation } from '../../src/domain/index.js';
import { toOperationResult } from '../../src/engine/operation-result.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { createCrashableStore } from '../support/crashable-store.js';
import { request } from '../support/fixtures.js';
import {
  createWorld,
  expectedEnd,
  scenarioArb,
  scenarioOperation,
  stepName,
  type Scenario,
  type World,
} from '../support/scenario.js';

const RUNS = { numRuns: 300, timeout: 5_000 };
const decode = createEventDecoder();

const newEngine = (store: EventStore, scenario: Scenario, world: World, prefix = 'op-') => {
  const engine: Engine = createEngine({
    store,
    operations: [scenarioOperation(scenario, world, () => engine)],
    clock: createVirtualClock(),
    ids: createSequentialIds(prefix),
  });
  return engine;
};

const key = (id: string, i: number) => `${id}:${stepName(i)}`;
const sortedNotUndone = (list: readonly NotUndone[]) =>
  list.map((n) => `${n.step}:${n.reason}`).sort();

/** Steps (indexes) whose run really happened, in the order they completed. */
const ranSteps = (world: World, id: string, scenario: Scenario) =>
  world.runs
    .filter((r) => r.startsWith(`${id}:`))
    .map((r) => scenario.steps.findIndex((_, i) => key(id, i) === r));

/**
 * Properties 1 and 2: the world ends where it started except for irreversible steps that ran
 * and undos that failed, `notUndone` lists exactly those, and undos ran newest first.
 */
const checkRollbackInvariants = (
  scenario: Scenario,
  world: World,
  result: OperationResult,
  options: { possiblyStarted?: readonly number[] } = {},
) => {
  const id = result.id;
  const ran = ranSteps(world, id, scenario);
  if (result.status === 'succeeded') {
    const all = ran
      .filter((i) => scenario.steps[i]!.kind !== 'no_side_effects')
      .map((i) => key(id, i));
    expect([...world.state.keys()].filter((k) => k.startsWith(`${id}:`)).sort()).toEqual(
      all.sort(),
    );
    expect(result.notUndone).toEqual([]);
    return;
  }
  const stays = ran.filter((i) => {
    const m = scenario.steps[i]!;
    return m.kind === 'irreversible' || (m.kind === 'undoable' && m.undoFails);
  });
  expect([...world.state.keys()].filter((k) => k.startsWith(`${id}:`)).sort()).toEqual(
    stays.map((i) => key(id, i)).sort(),
  );
  const expectedNotUndone = stays.map(
    (i) =>
      `${stepName(i)}:${scenario.steps[i]!.kind === 'irreversible' ? 'irreversible' : 'undo_failed'}`,
  );
  // After a crash, a step recorded as started may never have run: rollback still treats it as
  // possibly done, so it may be listed too (never a step that surely did not run).
  const extra = sortedNotUndone(result.notUndone).filter((n) => !expectedNotUndone.includes(n));
  const allowed = (options.possiblyStarted ?? []).map(stepName);
  expect(extra.every((n) => allowed.includes(n.split(':')[0]!))).toBe(true);
  expect(sortedNotUndone(result.notUndone).filter((n) => expectedNotUndone.includes(n))).toEqual(
    expectedNotUndone.sort(),
  );
  const sideEffects = scenario.steps.some((m) => m.kind !== 'no_side_effects');
  expect(result.rollback).toBe(
    !sideEffects ? 'none' : result.notUndone.length === 0 ? 'succeeded' : 'failed',
  );
  // Property 2: the first undo of each step that ran, in exact reverse order of completion.
  const firstUndos = [...new Set(world.undos.filter((u) => u.startsWith(`${id}:`)))];
  const undoneRan = firstUndos.filter((u) => ran.some((i) => key(id, i) === u));
  const expectedOrder = ran
    .filter((i) => scenario.steps[i]!.kind === 'undoable')
    .map((i) => key(id, i))
    .reverse();
  expect(undoneRan).toEqual(expectedOrder);
};

const foldStored = async (store: EventStore, id: string) => {
  const events = (await store.readStream(`operation-${id}`)).map(
    (r) => decode(r) as OperationEvent,
  );
  return foldOperation(events);
};

describe('rollback properties (fast-check)', () => {
  it('1-3: any plan, any failing step and attempt, any cancel point: the world is restored, undos run in reverse, and the events fold to the result', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const world = createWorld();
        const store = createInMemoryEventStore();
        const engine = newEngine(store, scenario, world);
        const handle = await engine.start(request({ type: 'generated' }));
        const result = await handle.result;

        const expected = expectedEnd(scenario);
        expect(result.status).toBe(expected.status);
        expect(result.cancelled).toBe(expected.cancelled);
        expect(result.failedStep).toBe(expected.failedStep);
        expect(Math.max(-1, ...ranSteps(world, result.id, scenario))).toBe(expected.lastStepRun);
        checkRollbackInvariants(scenario, world, result);

        // Property 3: folding the stored events reproduces the engine's final state.
        expect(toOperationResult(await foldStored(store, result.id))).toEqual(result);
        expect(await engine.getOperation(result.id)).toMatchObject({
          status: result.status,
          rollback: result.rollback,
          cancelled: result.cancelled,
          notUndone: result.notUndone,
        });
      }),
      RUNS,
    );
  });

  it('4: a crash at any event boundary, then recover(), ends every operation terminal with properties 1 and 2', async () => {
    await fc.assert(
      fc.asyncProperty(
        scenarioArb,
        fc.integer({ min: 1, max: 45 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 3 }),
        async (scenario, crashAt, lostAck, operations) => {
          const world = createWorld();
          const inner = createInMemoryEventStore();
          const crashable = createCrashableStore(inner, { crashAt, lostAck });
          const dying = newEngine(crashable, scenario, world);
          const handles = [];
          for (let i = 0; i < operations; i++) {
            const started = await dying
              .start(request({ type: 'generated' }))
              .catch(() => undefined);
            if (started) handles.push(started);
          }
          await Promise.allSettled(handles.map((h) => h.result));

          const successor = newEngine(inner, scenario, world, 'later-');
          await successor.recover();

          const ids = [...new Set((await inner.readAll()).map((e) => e.streamName))]
            .filter((s) => s.startsWith('operation-'))
            .map((s) => s.slice('operation-'.length));
          for (const id of ids) {
            const state = await foldStored(inner, id);
            const result = toOperationResult(state);
            expect(['succeeded', 'failed']).toContain(result.status);
            expect(result.rollback).not.toBe('in_progress');
            const started = Object.values(state.steps)
              .filter((s) => s.attempts > 0)
              .map((s) => Number(s.name.slice(1)));
            checkRollbackInvariants(scenario, world, result, { possiblyStarted: started });
          }
          // Nothing is left holding or waiting for the resource.
          const queue = (await inner.readStream('resource-production/app/web')).map((e) => e.type);
          const count = (t: string) => queue.filter((q) => q === t).length;
          expect(count('ResourceOperationFinished')).toBe(count('ResourceOperationQueued'));
          // And a second recovery has nothing to do.
          expect(await successor.recover()).toEqual([]);
        },
      ),
      RUNS,
    );
  });

  it('5: no two operations on one resource ever overlap, with one engine and with two', async () => {
    const opArb = fc.record({
      resource: fc.constantFrom('web', 'api', 'db'),
      engine: fc.constantFrom(0, 1),
      steps: fc.integer({ min: 1, max: 4 }),
      fails: fc.boolean(),
      yields: fc.integer({ min: 0, max: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 2, maxLength: 8 }),
        fc.boolean(),
        async (ops, twoEngines) => {
          const store = createInMemoryEventStore();
          const trace: Array<{ resource: string; id: string }> = [];
          const yieldTimes = async (n: number) => {
            for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
          };
          const touch = async (id: string, s: (typeof ops)[number]) => {
            trace.push({ resource: s.resource, id });
            await yieldTimes(s.yields);
            trace.push({ resource: s.resource, id });
          };
          const definition = defineOperation({
            type: 'generated',
            steps: Array.from({ length: 4 }, (_, i) =>
              step({
                name: stepName(i),
                run: async ({ operationId, params }) => {
                  const s = ops[params.index as number]!;
                  if (i >= s.steps) return;
                  await touch(operationId, s);
                  if (s.fails && i === s.steps - 1) throw new Error('fails');
                },
                undo: ({ operationId, params }) => touch(operationId, ops[params.index as number]!),
              }),
            ),
          });
          const engines = [0, 1].map((n) =>
            createEngine({
              store,
              operations: [definition],
              clock: createVirtualClock(),
              ids: createSequentialIds(`e${n}-`),
            }),
          );
          const handles = await Promise.all(
            ops.map((op, index) =>
              engines[twoEngines ? op.engine : 0]!.start(
                request({
                  type: 'generated',
                  resource: { type: 'app', handle: op.resource },
                  params: { index },
                }),
              ),
            ),
          );
          const results = await Promise.all(handles.map((h) => h.result));
          expect(results.every((r) => r.status === 'succeeded' || r.rollback === 'succeeded')).toBe(
            true,
          );
          for (const resource of ['web', 'api', 'db']) {
            const order = trace.filter((t) => t.resource === resource).map((t) => t.id);
            const seen = new Set<string>();
            for (let i = 0; i < order.length; i++) {
              if (i > 0 && order[i] !== order[i - 1]) expect(seen.has(order[i]!)).toBe(false);
              seen.add(order[i]!);
            }
          }
        },
      ),
      RUNS,
    );
  });
});
