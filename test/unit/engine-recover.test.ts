import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  step,
  type OperationDefinition,
} from '../../src/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { createCrashableStore, SimulatedCrash } from '../support/crashable-store.js';
import { allLines, eventTypes, messages, request, until } from '../support/fixtures.js';

const world = () => {
  const changes = new Set<string>();
  const undos: string[] = [];
  const ran: string[] = [];
  const undoable = (name: string, onRun?: () => void) =>
    step({
      name,
      run: ({ operationId }) => {
        ran.push(`${operationId}:${name}`);
        changes.add(`${operationId}:${name}`);
        onRun?.();
      },
      // Idempotent, as an undo must be: the run may never have happened.
      undo: ({ operationId, outcome }) => {
        undos.push(`${operationId}:${name}:${outcome}`);
        changes.delete(`${operationId}:${name}`);
      },
    });
  return { changes, undos, ran, undoable };
};

const engineOn = (
  store: ReturnType<typeof createInMemoryEventStore>,
  operations: OperationDefinition[],
  prefix = 'op-',
) =>
  createEngine({
    store,
    operations,
    clock: createVirtualClock(),
    ids: createSequentialIds(prefix),
  });

describe('engine.recover', () => {
  it('rolls back an operation interrupted mid-step, treating that step as possibly done', async () => {
    const inner = createInMemoryEventStore();
    const crashable = createCrashableStore(inner);
    const w = world();
    const deploy = defineOperation({
      type: 'deploy',
      steps: [w.undoable('a'), w.undoable('b', () => crashable.crash()), w.undoable('c')],
    });
    const first = engineOn(inner, [deploy]);
    const dying = createEngine({
      store: crashable,
      operations: [deploy],
      clock: createVirtualClock(),
      ids: createSequentialIds(),
    });
    const handle = await dying.start(request());
    await expect(handle.result).rejects.toBeInstanceOf(SimulatedCrash);
    expect((await first.getOperation(handle.id)).status).toBe('running');
    expect([...w.changes]).toEqual(['op-000001:a', 'op-000001:b']);

    const results = await engineOn(inner, [deploy]).recover();
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({
      id: handle.id,
      status: 'failed',
      rollback: 'succeeded',
      failedStep: 'b',
    });
    expect(results[0]?.error?.message).toContain("stopped while step 'b' was running");
    expect(w.changes.size).toBe(0);
    expect(w.undos).toEqual(['op-000001:b:unknown', 'op-000001:a:succeeded']);
    const lines = messages(await allLines({ logs: first.logs(handle.id) }));
    expect(lines).toContain("Undoing step 'b' (its outcome is unknown after a crash)");
    expect(lines).toContain('Rollback started (recovery): steps to roll back, newest first: b, a');
  });

  it('recovers only the operations named, when given', async () => {
    const inner = createInMemoryEventStore();
    const w = world();
    let crashable = createCrashableStore(inner);
    const deploy = defineOperation({
      type: 'deploy',
      steps: [w.undoable('a', () => crashable.crash()), w.undoable('b')],
    });
    // Two operations on two apps, each left running by an engine that died in its first step.
    const left: string[] = [];
    for (const handle of ['web', 'api']) {
      crashable = createCrashableStore(inner);
      const dying = createEngine({
        store: crashable,
        operations: [deploy],
        clock: createVirtualClock(),
        ids: createSequentialIds(`${handle}-`),
      });
      const op = await dying.start(request({ resource: { type: 'app', handle } }));
      await expect(op.result).rejects.toBeInstanceOf(SimulatedCrash);
      left.push(op.id);
    }
    const [web, api] = left as [string, string];
    const engine = engineOn(inner, [deploy]);
    const results = await engine.recover({ operationIds: [web, 'no-such-operation'] });
    expect(results.map((r) => [r.id, r.status, r.rollback])).toEqual([
      [web, 'failed', 'succeeded'],
    ]);
    expect((await engine.getOperation(api)).status).toBe('running');
    expect([...w.changes]).toEqual([`${api}:a`]);
  });

  it('resumes a rollback interrupted by a crash from its events', async () => {
    const inner = createInMemoryEventStore();
    const w = world();
    const ops = () =>
      defineOperation({
        type: 'deploy',
        steps: [
          w.undoable('a'),
          w.undoable('b'),
          w.undoable('c'),
          step({
            name: 'fail',
            kind: 'no_side_effects',
            run: () => Promise.reject(new Error('503')),
          }),
        ],
      });
    // A dry run on another store tells at which append the first undo is recorded as done
    // (an append may carry several events); the real run dies right before that append.
    const probeStore = createInMemoryEventStore();
    let appends = 0;
    let firstUndone = 0;
    const counting: typeof probeStore = Object.create(probeStore);
    // Like the crashable store below, no atomic append to several streams: the same appends.
    counting.appendToStreams = undefined;
    counting.append = (stream, events, options) => {
      appends++;
      if (!firstUndone && events.some((e) => e.type === 'StepUndone')) firstUndone = appends;
      return probeStore.append(stream, events, options);
    };
    await (
      await engineOn(counting, [ops()]).start(request())
    ).result;
    expect(firstUndone).toBeGreaterThan(1);
    w.undos.length = 0;
    const crashable = createCrashableStore(inner, { crashAt: firstUndone });
    const dying = createEngine({
      store: crashable,
      operations: [ops()],
      clock: createVirtualClock(),
      ids: createSequentialIds(),
    });
    const handle = await dying.start(request());
    await expect(handle.result).rejects.toBeInstanceOf(SimulatedCrash);
    const before = await eventTypes(inner, handle.id);
    expect(before).toContain('RollbackStarted');
    expect(before).not.toContain('RollbackFinished');

    const [result] = await engineOn(inner, [ops()], 'x-').recover();
    expect(result).toMatchObject({
      id: handle.id,
      rollback: 'succeeded',
      failedStep: 'fail',
      status: 'failed',
    });
    expect(w.changes.size).toBe(0);
    // The undo of 'c' ran before the crash but was not recorded: it runs again, idempotently.
    expect(w.undos).toEqual([
      'op-000001:c:succeeded',
      'op-000001:c:succeeded',
      'op-000001:b:succeeded',
      'op-000001:a:succeeded',
    ]);
    const after = await eventTypes(inner, handle.id);
    expect(after.filter((t) => t === 'RollbackStarted')).toHaveLength(1);
    expect(after.at(-1)).toBe('RollbackFinished');
  });

  it('starts queued operations in order once the interrupted one is rolled back', async () => {
    const inner = createInMemoryEventStore();
    const crashable = createCrashableStore(inner);
    const w = world();
    let crashNext = true;
    const deploy = defineOperation({
      type: 'deploy',
      steps: [
        w.undoable('a', () => {
          if (crashNext) crashable.crash();
        }),
      ],
    });
    const dying = createEngine({
      store: crashable,
      operations: [deploy],
      clock: createVirtualClock(),
      ids: createSequentialIds(),
    });
    const first = await dying.start(request());
    const second = await dying.start(request());
    const third = await dying.start(request());
    const elsewhere = await dying
      .start(request({ resource: { type: 'database', handle: 'db' } }))
      .catch(() => undefined);
    await expect(first.result).rejects.toBeInstanceOf(SimulatedCrash);
    await until(() => crashable.crashed);
    crashNext = false;
    const recovering = engineOn(inner, [deploy], 'r-');
    const results = await recovering.recover();
    const byId = new Map(results.map((r) => [r.id, r]));
    expect(byId.get(first.id)).toMatchObject({ status: 'failed', rollback: 'succeeded' });
    expect(byId.get(second.id)?.status).toBe('succeeded');
    expect(byId.get(third.id)?.status).toBe('succeeded');
    if (elsewhere) expect(byId.has(elsewhere.id)).toBe(true);
    const webRuns = w.ran.filter((r) => !r.startsWith(elsewhere?.id ?? '#'));
    expect(webRuns).toEqual([`${first.id}:a`, `${second.id}:a`, `${third.id}:a`]);
    // Recovering again finds nothing left to do.
    expect(await recovering.recover()).toEqual([]);
  });

  it('fails the undo of an unknown definition in words, and continueRollback finishes it later', async () => {
    const inner = createInMemoryEventStore();
    const crashable = createCrashableStore(inner);
    const w = world();
    const deploy = defineOperation({
      type: 'deploy',
      steps: [w.undoable('a'), w.undoable('b', () => crashable.crash())],
    });
    const dying = createEngine({
      store: crashable,
      operations: [deploy],
      clock: createVirtualClock(),
      ids: createSequentialIds(),
    });
    const handle = await dying.start(request());
    await expect(handle.result).rejects.toBeInstanceOf(SimulatedCrash);
    const [result] = await engineOn(inner, []).recover();
    expect(result?.rollback).toBe('failed');
    expect(result?.notUndone.map((n) => [n.step, n.reason])).toEqual([
      ['b', 'undo_failed'],
      ['a', 'undo_failed'],
    ]);
    expect(result?.notUndone[0]?.error).toContain("this engine has no undo for step 'b'");
    const again = await engineOn(inner, [deploy]).continueRollback(handle.id);
    expect(await again.result).toMatchObject({ rollback: 'succeeded', notUndone: [] });
    expect(w.changes.size).toBe(0);
  });
});
