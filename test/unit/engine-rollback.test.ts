import { describe, expect, it } from 'vitest';
import { defineOperation, step } from '../../src/index.js';
import { allLines, eventTypes, messages, request, setup } from '../support/fixtures.js';

/** A world of named changes; each undoable step adds one and its undo removes it. */
const makeWorld = () => {
  const changes = new Set<string>();
  const journal: string[] = [];
  const undoable = (name: string, options: { failUndo?: number } = {}) => {
    let undoFailures = options.failUndo ?? 0;
    return step({
      name,
      run: () => {
        changes.add(name);
        journal.push(`run ${name}`);
        return { added: name };
      },
      undo: ({ output, outcome }) => {
        journal.push(`undo ${name} (${outcome})`);
        if (undoFailures-- > 0) throw new Error(`cannot remove ${name}`);
        changes.delete(output?.added ?? name);
      },
      undoRetry: { maxAttempts: 2, initialIntervalMs: 50 },
    });
  };
  const irreversible = (name: string) =>
    step({
      name,
      kind: 'irreversible',
      run: () => {
        changes.add(name);
        journal.push(`run ${name}`);
      },
    });
  const failing = (name: string, message = 'health check answered 503') =>
    step({
      name,
      kind: 'no_side_effects',
      run: () => {
        throw new Error(message);
      },
    });
  return { changes, journal, undoable, irreversible, failing };
};

describe('automatic rollback', () => {
  it("hands each undo the recorded outputs of the operation's steps", async () => {
    const seen: Record<string, unknown>[] = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({ name: 'pull', kind: 'no_side_effects', run: () => ({ registry: 'quay' }) }),
        step({
          name: 'start',
          run: () => ({ ids: ['c1'] }),
          undo: ({ outputs }) => {
            seen.push({ ...outputs });
          },
        }),
        step({
          name: 'check',
          kind: 'no_side_effects',
          run: () => {
            throw new Error('unhealthy');
          },
        }),
      ],
    });
    const { engine } = setup([op]);
    expect((await (await engine.start(request())).result).rollback).toBe('succeeded');
    expect(seen).toEqual([{ pull: { registry: 'quay' }, start: { ids: ['c1'] } }]);
  });

  it('undoes completed undoable steps in reverse order and says so', async () => {
    const w = makeWorld();
    const op = defineOperation({
      type: 'deploy',
      steps: [w.undoable('a'), w.undoable('b'), w.undoable('c'), w.failing('check')],
    });
    const { engine, store } = setup([op]);
    const handle = await engine.start(request());
    const result = await handle.result;
    expect(result).toMatchObject({
      status: 'failed',
      rollback: 'succeeded',
      failedStep: 'check',
      notUndone: [],
    });
    expect(w.changes.size).toBe(0);
    expect(w.journal).toEqual([
      'run a',
      'run b',
      'run c',
      'undo c (succeeded)',
      'undo b (succeeded)',
      'undo a (succeeded)',
    ]);
    const lines = messages(await allLines(handle));
    expect(lines).toContain(
      'Rollback started (failure): steps to roll back, newest first: c, b, a',
    );
    expect(lines.at(-1)).toBe(
      'Rollback succeeded: everything was restored to the way it was before the operation.',
    );
    expect((await eventTypes(store, handle.id)).slice(-9)).toEqual([
      'OperationFailed',
      'RollbackStarted',
      'StepUndoStarted',
      'StepUndone',
      'StepUndoStarted',
      'StepUndone',
      'StepUndoStarted',
      'StepUndone',
      'RollbackFinished',
    ]);
  });

  it('reports irreversible steps as not undone and fails the rollback in words', async () => {
    const w = makeWorld();
    const op = defineOperation({
      type: 'deploy',
      steps: [w.irreversible('before_release'), w.undoable('start'), w.failing('health check')],
    });
    const { engine } = setup([op]);
    const handle = await engine.start(request());
    const result = await handle.result;
    expect(result.rollback).toBe('failed');
    expect(result.notUndone).toEqual([{ step: 'before_release', reason: 'irreversible' }]);
    expect([...w.changes]).toEqual(['before_release']);
    const lines = messages(await allLines(handle));
    expect(lines).toContain(
      "Step 'before_release' cannot be undone (irreversible): its changes stay in place",
    );
    expect(lines.at(-1)).toBe(
      "Rollback failed: these changes could not be undone: 'before_release' (irreversible).",
    );
    expect(result.summary).toContain("failed at step 'health check': health check answered 503.");
    expect(result.summary).toContain(
      "Rollback failed: these changes could not be undone: 'before_release'",
    );
  });

  it('goes on undoing the others when an undo fails after its retries', async () => {
    const w = makeWorld();
    const op = defineOperation({
      type: 'deploy',
      steps: [
        w.undoable('a'),
        w.undoable('b', { failUndo: 5 }),
        w.undoable('c'),
        w.failing('check'),
      ],
    });
    const { engine, clock } = setup([op]);
    const handle = await engine.start(request());
    const result = await handle.result;
    expect(result.rollback).toBe('failed');
    expect(result.notUndone).toEqual([
      { step: 'b', reason: 'undo_failed', error: 'cannot remove b' },
    ]);
    expect([...w.changes]).toEqual(['b']);
    expect(w.journal.filter((j) => j.startsWith('undo'))).toEqual([
      'undo c (succeeded)',
      'undo b (succeeded)',
      'undo b (succeeded)',
      'undo a (succeeded)',
    ]);
    expect(clock.sleeps).toEqual([50]);
    const lines = messages(await allLines(handle));
    expect(lines).toContain(
      "Undo of step 'b' failed on attempt 1: cannot remove b; retrying in 0.05s",
    );
    expect(lines.at(-1)).toBe(
      "Rollback failed: these changes could not be undone: 'b' (undo failed: cannot remove b).",
    );
  });

  it('rolls back with nothing to undo when the first step fails', async () => {
    const w = makeWorld();
    const op = defineOperation({ type: 'deploy', steps: [w.failing('pull'), w.undoable('a')] });
    const { engine } = setup([op]);
    const handle = await engine.start(request());
    expect(await handle.result).toMatchObject({ rollback: 'succeeded', notUndone: [] });
    expect(messages(await allLines(handle))).toContain(
      'Rollback started (failure): nothing to undo',
    );
  });

  it('never rolls back an operation whose steps all have no side effects', async () => {
    const w = makeWorld();
    const op = defineOperation({
      type: 'execute',
      steps: [w.failing('ssh session', 'connection reset')],
    });
    const { engine, store } = setup([op]);
    const handle = await engine.start(request({ type: 'execute' }));
    expect(await handle.result).toMatchObject({ status: 'failed', rollback: 'none' });
    expect(await eventTypes(store, handle.id)).not.toContain('RollbackStarted');
  });
});

describe('engine.continueRollback', () => {
  it('runs failed undos again and succeeds once they work', async () => {
    const w = makeWorld();
    const op = defineOperation({
      type: 'deploy',
      // 2 undo attempts per rollback: fails both the first time, works the second time.
      steps: [w.undoable('a'), w.undoable('b', { failUndo: 2 }), w.failing('check')],
    });
    const { engine } = setup([op]);
    const first = await engine.start(request());
    expect((await first.result).notUndone).toEqual([
      { step: 'b', reason: 'undo_failed', error: 'cannot remove b' },
    ]);
    const again = await engine.continueRollback(first.id);
    const result = await again.result;
    expect(result).toMatchObject({ status: 'failed', rollback: 'succeeded', notUndone: [] });
    expect(w.changes.size).toBe(0);
    const lines = messages(await allLines(again));
    expect(lines).toContain('Continuing rollback: steps to roll back, newest first: b');
    expect(lines.at(-1)).toBe(
      'Rollback succeeded: everything was restored to the way it was before the operation.',
    );
  });

  it('records skipped steps as inconsistent and reports them', async () => {
    const w = makeWorld();
    const op = defineOperation({
      type: 'deploy',
      steps: [w.undoable('a'), w.undoable('b', { failUndo: 100 }), w.failing('check')],
    });
    const { engine } = setup([op]);
    const first = await engine.start(request());
    await first.result;
    const again = await engine.continueRollback(first.id, { skip: ['b'] });
    const result = await again.result;
    expect(result.rollback).toBe('failed');
    expect(result.notUndone).toEqual([{ step: 'b', reason: 'skipped' }]);
    expect(messages(await allLines(again))).toContain(
      "Step 'b' skipped on request: its changes stay in place and are reported as inconsistent",
    );
  });

  it('refuses to continue a rollback that did not fail, or to skip an unknown step', async () => {
    const w = makeWorld();
    const op = defineOperation({
      type: 'deploy',
      steps: [w.undoable('a', { failUndo: 100 }), w.failing('check')],
    });
    const ok = defineOperation({ type: 'restart', steps: [w.undoable('z')] });
    const { engine } = setup([op, ok]);
    const fine = await engine.start(request({ type: 'restart' }));
    await fine.result;
    await expect(engine.continueRollback(fine.id)).rejects.toMatchObject({
      code: 'ROLLBACK_NOT_FAILED',
    });
    const bad = await engine.start(request());
    await bad.result;
    await expect(engine.continueRollback(bad.id, { skip: ['zz'] })).rejects.toMatchObject({
      code: 'UNKNOWN_STEP',
    });
    await expect(engine.continueRollback('missing')).rejects.toMatchObject({
      code: 'OPERATION_NOT_FOUND',
    });
  });
});

describe('steps that misbehave', () => {
  it('undoes a step whose output could not be recorded: it ran, so its changes are out there', async () => {
    const w = makeWorld();
    const op = defineOperation({
      type: 'deploy',
      steps: [
        w.undoable('a'),
        step({
          name: 'create vm',
          // @ts-expect-error a Date is not JSON: refused by the types too; here the run-time check is under test
          run: () => {
            w.changes.add('vm');
            return { createdAt: new Date() };
          },
          undo: ({ outcome, output }) => {
            expect(outcome).toBe('unknown');
            expect(output).toBeUndefined();
            w.changes.delete('vm');
          },
        }),
      ],
    });
    const { engine } = setup([op]);
    const result = await (await engine.start(request())).result;
    expect(result).toMatchObject({
      status: 'failed',
      failedStep: 'create vm',
      rollback: 'succeeded',
    });
    expect(result.error?.code).toBe('INVALID_STEP_OUTPUT');
    expect(w.changes.size).toBe(0);
  });

  it('fails and rolls back, instead of hanging, when release() or a thrown value misbehaves', async () => {
    const w = makeWorld();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const badRelease = defineOperation({
      type: 'deploy',
      release: () => {
        throw new Error('no image in params');
      },
      steps: [w.undoable('a')],
    });
    const badThrow = defineOperation({
      type: 'restart',
      steps: [
        w.undoable('b'),
        step({
          name: 'throws an object',
          kind: 'no_side_effects',
          run: () => {
            throw circular;
          },
        }),
      ],
    });
    const { engine } = setup([badRelease, badThrow]);
    const first = await (await engine.start(request())).result;
    expect(first).toMatchObject({ status: 'failed', rollback: 'succeeded' });
    expect(first.error?.message).toBe('no image in params');
    const second = await (await engine.start(request({ type: 'restart' }))).result;
    expect(second).toMatchObject({
      status: 'failed',
      rollback: 'succeeded',
      failedStep: 'throws an object',
    });
    expect(second.error?.message).toBe('[object Object]');
    expect(w.changes.size).toBe(0);
  });

  it('drops log lines written after the operation ended, so the verdict stays last', async () => {
    let late: ((message: string) => void) | undefined;
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'a',
          kind: 'no_side_effects',
          run: ({ log }) => {
            late = log;
          },
        }),
      ],
    });
    const { engine } = setup([op]);
    const handle = await engine.start(request());
    await handle.result;
    late?.('too late');
    await new Promise((r) => setTimeout(r, 10));
    const lines = messages(await allLines({ logs: engine.logs(handle.id) }));
    expect(lines.at(-1)).toBe('Operation succeeded');
    expect(lines).not.toContain('too late');
  });
});
