import { describe, expect, it } from 'vitest';
import { defineOperation, OperationEndedError, step } from '../../src/index.js';
import { allLines, eventTypes, messages, request, setup, until } from '../support/fixtures.js';
import { createGate, untilAborted } from '../support/gate.js';

describe('engine.cancel', () => {
  it('aborts the running step and rolls back what was done', async () => {
    const changes = new Set<string>();
    let sawAbort = false;
    let checking = false;
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'start containers',
          run: () => void changes.add('containers'),
          undo: () => void changes.delete('containers'),
        }),
        step({
          name: 'health check',
          kind: 'no_side_effects',
          run: async ({ signal }) => {
            checking = true;
            try {
              return await untilAborted(signal);
            } finally {
              sawAbort = signal.aborted;
            }
          },
        }),
        step({
          name: 'switch',
          run: () => void changes.add('switched'),
          undo: () => void changes.delete('switched'),
        }),
      ],
    });
    const { engine, store } = setup([op]);
    const handle = await engine.start(request());
    await until(() => checking);
    const outcome = await engine.cancel(handle.id, { user: 'bob@example.com' });
    expect(outcome).toEqual({ id: handle.id, status: 'running', alreadyRequested: false });
    const result = await handle.result;
    expect(sawAbort).toBe(true);
    expect(result).toMatchObject({
      status: 'failed',
      cancelled: true,
      rollback: 'succeeded',
      failedStep: 'health check',
    });
    expect(changes.size).toBe(0);
    expect(result.summary).toContain("was cancelled by bob@example.com at step 'health check'");
    const lines = messages(await allLines(handle));
    expect(lines).toContain('Cancellation requested by bob@example.com');
    expect(lines).toContain("Operation cancelled at step 'health check'; rolling back");
    expect(lines.at(-1)).toBe(
      'Rollback succeeded: everything was restored to the way it was before the operation.',
    );
    expect(await eventTypes(store, handle.id)).toContain('RollbackStarted');
  });

  it('is idempotent while running and a clear error once the operation ended', async () => {
    const gate = createGate();
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'wait',
          kind: 'no_side_effects',
          interruptible: false,
          run: () => gate.wait(),
        }),
      ],
    });
    const { engine, store } = setup([op]);
    const handle = await engine.start(request());
    await until(() => gate.entered);
    expect((await engine.cancel(handle.id, { user: 'bob' })).alreadyRequested).toBe(false);
    expect((await engine.cancel(handle.id, { user: 'eve' })).alreadyRequested).toBe(true);
    gate.open();
    const result = await handle.result;
    expect(result).toMatchObject({ cancelled: true, status: 'failed', rollback: 'none' });
    const types = await eventTypes(store, handle.id);
    expect(types.filter((t) => t === 'CancellationRequested')).toHaveLength(1);
    const ended = engine.cancel(handle.id, { user: 'bob' });
    await expect(ended).rejects.toBeInstanceOf(OperationEndedError);
    await expect(ended).rejects.toThrow(
      /has already ended \(failed\); there is nothing left to cancel/,
    );
    await expect(engine.cancel('op-999999', { user: 'bob' })).rejects.toMatchObject({
      code: 'OPERATION_NOT_FOUND',
    });
  });

  it('waits for a step that cannot be interrupted, then undoes it too', async () => {
    const gate = createGate();
    const changes = new Set<string>();
    const op = defineOperation({
      type: 'restart',
      steps: [
        step({
          name: 'stop old',
          interruptible: false,
          run: async ({ signal }) => {
            await gate.wait();
            expect(signal.aborted).toBe(false);
            changes.add('stopped');
          },
          undo: () => void changes.delete('stopped'),
        }),
        step({ name: 'never', kind: 'no_side_effects', run: () => void changes.add('never') }),
      ],
    });
    const { engine } = setup([op]);
    const handle = await engine.start(request({ type: 'restart' }));
    await until(() => gate.entered);
    await engine.cancel(handle.id, { user: 'bob' });
    gate.open();
    const result = await handle.result;
    expect(result).toMatchObject({ cancelled: true, rollback: 'succeeded' });
    expect(result.failedStep).toBeUndefined();
    expect(changes.size).toBe(0);
  });

  it('cannot be interrupted once rolling back, by a cancel or a shutdown', async () => {
    const gate = createGate();
    const changes = new Set<string>(['v1']);
    let undoSignal: AbortSignal | undefined;
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'switch',
          run: () => {
            changes.delete('v1');
            changes.add('v2');
          },
          undo: async ({ signal }) => {
            undoSignal = signal;
            await gate.wait();
            changes.delete('v2');
            changes.add('v1');
          },
        }),
        step({
          name: 'check',
          kind: 'no_side_effects',
          run: () => Promise.reject(new Error('503')),
        }),
      ],
    });
    const { engine } = setup([op]);
    const handle = await engine.start(request());
    await until(() => gate.entered);
    // The operation already failed and is rolling back: the cancel has nothing left to do.
    expect(await engine.cancel(handle.id, { user: 'bob' })).toMatchObject({
      alreadyRequested: true,
    });
    let shutDown = false;
    const shutdown = engine.shutdown().then(() => (shutDown = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(shutDown).toBe(false);
    expect(undoSignal?.aborted).toBe(false);
    gate.open();
    await shutdown;
    const result = await handle.result;
    expect(result).toMatchObject({ rollback: 'succeeded', cancelled: false, failedStep: 'check' });
    expect([...changes]).toEqual(['v1']);
    await expect(engine.start(request())).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
  });

  it('stops an operation whose steps have no side effects, with nothing to roll back', async () => {
    let started = false;
    const op = defineOperation({
      type: 'execute',
      steps: [
        step({
          name: 'ssh session',
          kind: 'no_side_effects',
          run: ({ signal }) => {
            started = true;
            return untilAborted(signal);
          },
        }),
      ],
    });
    const { engine, store } = setup([op]);
    const handle = await engine.start(request({ type: 'execute' }));
    await until(() => started);
    await engine.cancel(handle.id, { user: 'bob' });
    const result = await handle.result;
    expect(result).toMatchObject({
      status: 'failed',
      cancelled: true,
      rollback: 'none',
      failedStep: 'ssh session',
    });
    expect(await eventTypes(store, handle.id)).not.toContain('RollbackStarted');
    expect(result.summary).toContain('Nothing needed rolling back.');
  });

  it('takes a queued operation out of the queue without running it', async () => {
    const gate = createGate();
    const ran: string[] = [];
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'work',
          run: async ({ operationId }) => {
            ran.push(operationId);
            if (operationId === 'op-000001') await gate.wait();
          },
          undo: () => undefined,
        }),
      ],
    });
    const { engine, store } = setup([op]);
    const first = await engine.start(request());
    const second = await engine.start(request());
    const third = await engine.start(request());
    await until(() => gate.entered);
    expect((await engine.getOperation(second.id)).status).toBe('queued');
    await engine.cancel(second.id, { user: 'bob' });
    const secondResult = await second.result;
    expect(secondResult).toMatchObject({ status: 'failed', cancelled: true, rollback: 'none' });
    expect(await eventTypes(store, second.id)).not.toContain('OperationStarted');
    gate.open();
    expect((await first.result).status).toBe('succeeded');
    expect((await third.result).status).toBe('succeeded');
    expect(ran).toEqual(['op-000001', 'op-000003']);
  });
});
