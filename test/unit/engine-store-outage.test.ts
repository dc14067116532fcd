import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  StoreUnavailableError,
  type StoreOutageNotice,
  type UndoContext,
} from '../../src/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { allLines, eventTypes, messages, request } from '../support/fixtures.js';
import { createOutageStore, type OutageStore } from '../support/outage-store.js';

/** An operation of three undoable steps; `during` runs inside the second one. */
const deployWith = (during: () => void) => {
  const runs: string[] = [];
  const undos: Array<{ step: string; outcome: UndoContext['outcome'] }> = [];
  const make = (name: string, act?: () => void) =>
    step({
      name,
      run: () => {
        runs.push(name);
        act?.();
        return { done: name };
      },
      undo: (ctx) => {
        undos.push({ step: name, outcome: ctx.outcome });
      },
    });
  const deploy = defineOperation({
    type: 'deploy',
    steps: [make('pull'), make('start', during), make('switch')],
  });
  return { deploy, runs, undos };
};

const world = (maxMs?: number) => {
  const clock = createVirtualClock();
  const inner = createInMemoryEventStore();
  const flaky: OutageStore = createOutageStore(inner, clock);
  const notices: StoreOutageNotice[] = [];
  const engineFor = (deploy: ReturnType<typeof deployWith>['deploy'], prefix = 'op-') =>
    createEngine({
      store: flaky,
      operations: [deploy],
      clock,
      ids: createSequentialIds(prefix),
      storeOutage: {
        clock,
        random: () => 0.5,
        onOutage: (n) => notices.push(n),
        ...(maxMs !== undefined ? { maxMs } : {}),
      },
    });
  return { clock, inner, flaky, notices, engineFor };
};

describe('an engine riding out a store outage', () => {
  it('goes on after the store was down in the middle of a step, and logs it once', async () => {
    const w = world();
    const { deploy, runs } = deployWith(() => w.flaky.downFor(12_400));
    const engine = w.engineFor(deploy);
    const handle = await engine.start(request());
    const result = await handle.result;
    expect(result.status).toBe('succeeded');
    expect(runs).toEqual(['pull', 'start', 'switch']);
    const lines = messages(await allLines(handle));
    const outage = lines.filter((l) => l.startsWith('the event store was unreachable'));
    expect(outage).toHaveLength(1);
    const [, seconds] = /^the event store was unreachable for (\d+\.\d) s; went on$/.exec(
      outage[0]!,
    )!;
    // At least the outage; the virtual clock is also moved by the other waits running meanwhile.
    expect(Number(seconds)).toBeGreaterThanOrEqual(12.4);
    expect(Number(seconds)).toBeLessThan(20);
    // Where it happened: before the event it held up.
    expect(lines.indexOf(outage[0]!)).toBe(lines.indexOf("Step 'start' succeeded") - 1);
    expect(w.notices.filter((n) => n.kind === 'recovered').length).toBeGreaterThanOrEqual(1);
    expect(w.notices.some((n) => n.kind === 'waiting')).toBe(true);
  });

  it('records a step once when the answer to its StepSucceeded was lost', async () => {
    const w = world();
    const { deploy, runs } = deployWith(() => w.flaky.loseAnswers(1));
    const engine = w.engineFor(deploy);
    const handle = await engine.start(request());
    expect((await handle.result).status).toBe('succeeded');
    expect(runs).toEqual(['pull', 'start', 'switch']);
    const types = await eventTypes(w.inner, handle.id);
    expect(types.filter((t) => t === 'StepSucceeded')).toHaveLength(3);
    expect(types.filter((t) => t === 'StepStarted')).toHaveLength(3);
  });

  it('past the budget rejects result with StoreUnavailableError and leaves the operation whole for recover()', async () => {
    const w = world(10_000);
    const { deploy, runs, undos } = deployWith(() => w.flaky.downFor(600_000));
    const engine = w.engineFor(deploy);
    const handle = await engine.start(request());
    const error = await handle.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', host: 'fake:5432/test' });
    expect((error as StoreUnavailableError).unreachableMs).toBeGreaterThanOrEqual(10_000);
    // Nothing half-written: the step is started and has no outcome; the verdict is for recovery.
    const types = await eventTypes(w.inner, handle.id);
    expect(types.at(-1)).toBe('StepStarted');
    expect(runs).toEqual(['pull', 'start']);

    // The store comes back; recover() (here from another process) rolls the operation back,
    // undoing the step whose outcome it cannot know.
    w.clock.advance(600_000);
    const other = w.engineFor(deploy, 'other-');
    const [recovered] = await other.recover();
    expect(recovered).toMatchObject({ id: handle.id, status: 'failed', rollback: 'succeeded' });
    expect(undos).toEqual([
      { step: 'start', outcome: 'unknown' },
      { step: 'pull', outcome: 'succeeded' },
    ]);
  });
});
