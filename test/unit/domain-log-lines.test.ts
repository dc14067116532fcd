import { describe, expect, it } from 'vitest';
import type { OperationEvent } from '../../src/domain/events.js';
import {
  ROLLBACK_SUCCEEDED,
  rollbackFailedVerdict,
  toLogLine,
} from '../../src/domain/log-lines.js';

const at = '2026-01-05T00:00:00.000Z';
const error = { name: 'Error', message: 'disk full.', causes: ['quota reached'] };
const line = (event: OperationEvent) => toLogLine('op-1', 7, event);

describe('the Operation Log: one line per event', () => {
  it('given any event, then its line carries the operation, the revision and the time of the event', () => {
    expect(line({ type: 'OperationStarted', data: { at } })).toEqual({
      operationId: 'op-1',
      revision: 7,
      at,
      level: 'info',
      message: 'Operation started',
    });
    const requested = line({
      type: 'OperationRequested',
      data: {
        operationId: 'op-1',
        type: 'deploy',
        environment: 'production',
        resource: { type: 'app', handle: 'web' },
        user: 'ada@example.com',
        params: {},
        createdAt: '2026-01-04T00:00:00.000Z',
        steps: [{ name: 'pull', kind: 'undoable' }],
      },
    });
    expect(requested).toMatchObject({ at: '2026-01-04T00:00:00.000Z', level: 'info' });
    expect(requested).not.toHaveProperty('step');
  });

  it('given a step started, then an info line of that step naming the attempt and provider only when there is something to say', () => {
    const first = line({ type: 'StepStarted', data: { step: 'pull', attempt: 1, at } });
    expect(first).toMatchObject({ level: 'info', step: 'pull' });
    expect(first?.message).not.toMatch(/attempt|provider|\(/);
    const again = line({
      type: 'StepStarted',
      data: { step: 'pull', attempt: 2, provider: 'registry-b', at },
    });
    expect(again?.message).toMatch(/\(attempt 2, provider registry-b\)$/);
    const provider = line({
      type: 'StepStarted',
      data: { step: 'pull', attempt: 1, provider: 'registry-a', at },
    });
    expect(provider?.message).toMatch(/\(provider registry-a\)$/);
  });

  it('given a line a step logged, then it keeps its level, message and step', () => {
    expect(
      line({ type: 'LogWritten', data: { step: 'pull', level: 'warn', message: 'slow', at } }),
    ).toEqual({
      operationId: 'op-1',
      revision: 7,
      at,
      level: 'warn',
      step: 'pull',
      message: 'slow',
    });
    const engineLine = line({ type: 'LogWritten', data: { level: 'error', message: 'x', at } });
    expect(engineLine).toStrictEqual({
      operationId: 'op-1',
      revision: 7,
      at,
      level: 'error',
      message: 'x',
    });
  });

  it('given a step that succeeded, then an info line of that step', () => {
    expect(line({ type: 'StepSucceeded', data: { step: 'pull', attempt: 1, at } })).toMatchObject({
      level: 'info',
      step: 'pull',
    });
  });

  it('given a step that failed, then a warn line when it is retried, fails over or was cancelled, and an error line when it failed for good', () => {
    const failed = (more: object) =>
      line({
        type: 'StepFailed',
        data: { step: 'pull', attempt: 2, error, willRetry: false, at, ...more },
      });
    const forGood = failed({});
    expect(forGood).toMatchObject({ level: 'error', step: 'pull' });
    // The error and its causes are quoted without the period that would end the sentence.
    expect(forGood?.message).toMatch(/attempt 2: disk full; caused by: quota reached$/);
    expect(forGood?.message).not.toMatch(/provider/);
    expect(failed({ provider: 'registry-a' })?.message).toMatch(/with provider registry-a/);

    const retried = failed({ willRetry: true, retryInMs: 1500 });
    expect(retried).toMatchObject({ level: 'warn', step: 'pull' });
    expect(retried?.message).toMatch(/; retrying in 1\.5s$/);
    expect(failed({ willRetry: true })?.message).toMatch(/; retrying in 0s$/);

    const failover = failed({ failoverTo: 'registry-b' });
    expect(failover).toMatchObject({ level: 'warn', step: 'pull' });
    expect(failover?.message).toMatch(/; failing over to registry-b$/);

    const cancelled = failed({ cancelled: true, willRetry: true });
    expect(cancelled).toMatchObject({ level: 'warn', step: 'pull' });
    expect(cancelled?.message).toMatch(/\(cancelled\)$/);
  });

  it('given a cancellation requested, then a warn line naming who asked', () => {
    const l = line({ type: 'CancellationRequested', data: { user: 'bob', at } });
    expect(l).toMatchObject({ level: 'warn' });
    expect(l?.message).toMatch(/bob/);
  });

  it('given the operation failed, then a warn line for a cancel and an error line with the error for a failure or an interruption', () => {
    const failed = (reason: 'failure' | 'cancellation' | 'recovery', more: object = {}) =>
      line({
        type: 'OperationFailed',
        data: { reason, error, rollbackRequired: false, at, ...more },
      });
    expect(failed('cancellation')).toMatchObject({ level: 'warn' });
    expect(failed('cancellation')?.message).not.toMatch(/disk full/);
    for (const reason of ['failure', 'recovery'] as const) {
      expect(failed(reason)).toMatchObject({ level: 'error' });
      expect(failed(reason)?.message).toMatch(/disk full; caused by: quota reached$/);
    }
    expect(failed('failure')?.message).not.toEqual(failed('recovery')?.message);
    const withStep = failed('failure', { failedStep: 'pull', rollbackRequired: true });
    expect(withStep?.message).toMatch(/at step 'pull'/);
    expect(withStep?.message).toMatch(/; rolling back$/);
    expect(failed('cancellation', { rollbackRequired: true })?.message).toMatch(/; rolling back$/);
    expect(failed('failure')?.message).not.toMatch(/at step|rolling back/);
  });

  it('given a rollback started, then a warn line with its plan, or nothing to undo, and the steps skipped', () => {
    const started = (plan: string[], reason: 'failure' | 'continue', skip?: string[]) =>
      line({
        type: 'RollbackStarted',
        data: { reason, plan, at, ...(skip !== undefined ? { skip } : {}) },
      });
    expect(started(['start', 'pull'], 'failure')).toMatchObject({ level: 'warn' });
    expect(started(['start', 'pull'], 'failure')?.message).toMatch(/\(failure\).*start, pull$/);
    expect(started([], 'failure')?.message).toMatch(/nothing to undo$/);
    const continued = started(['pull'], 'continue', ['start', 'migrate']);
    expect(continued?.message).toMatch(/^Continuing rollback/);
    expect(continued?.message).toMatch(/; skipping start, migrate$/);
    expect(started(['pull'], 'continue', [])?.message).not.toMatch(/skipping/);
  });

  it('given an undo started, then an info line saying the attempt and an unknown outcome only when there is something to say', () => {
    const undo = (attempt: number, outcome: 'succeeded' | 'unknown') =>
      line({ type: 'StepUndoStarted', data: { step: 'pull', attempt, outcome, at } });
    expect(undo(1, 'succeeded')).toMatchObject({ level: 'info', step: 'pull' });
    expect(undo(1, 'succeeded')?.message).not.toMatch(/\(/);
    expect(undo(2, 'unknown')?.message).toMatch(
      /\(attempt 2, its outcome is unknown after a crash\)$/,
    );
    expect(undo(1, 'unknown')?.message).toMatch(/\(its outcome is unknown after a crash\)$/);
    expect(undo(2, 'succeeded')?.message).toMatch(/\(attempt 2\)$/);
  });

  it('given an undo done or failed, then an info line when done, a warn line when retried and an error line when failed for good', () => {
    expect(line({ type: 'StepUndone', data: { step: 'pull', attempt: 1, at } })).toMatchObject({
      level: 'info',
      step: 'pull',
    });
    const failed = (willRetry: boolean, retryInMs?: number) =>
      line({
        type: 'StepUndoFailed',
        data: {
          step: 'pull',
          attempt: 1,
          error,
          willRetry,
          at,
          ...(retryInMs !== undefined ? { retryInMs } : {}),
        },
      });
    expect(failed(false)).toMatchObject({ level: 'error', step: 'pull' });
    expect(failed(false)?.message).toMatch(/disk full; caused by: quota reached$/);
    expect(failed(true, 2000)).toMatchObject({ level: 'warn', step: 'pull' });
    expect(failed(true, 2000)?.message).toMatch(/; retrying in 2s$/);
    expect(failed(true)?.message).toMatch(/; retrying in 0s$/);
  });

  it('given a step not undone, then a warn line that says whether it is irreversible or skipped', () => {
    const irreversible = line({
      type: 'StepNotUndoable',
      data: { step: 'migrate', reason: 'irreversible', at },
    });
    const skipped = line({
      type: 'StepNotUndoable',
      data: { step: 'migrate', reason: 'skipped', at },
    });
    expect(irreversible).toMatchObject({ level: 'warn', step: 'migrate' });
    expect(skipped).toMatchObject({ level: 'warn', step: 'migrate' });
    expect(irreversible?.message).toMatch(/irreversible/);
    expect(skipped?.message).toMatch(/skipped/);
  });

  it('given a rollback finished, then the verdict: info when everything was restored, error listing what stays otherwise', () => {
    expect(
      line({ type: 'RollbackFinished', data: { outcome: 'succeeded', notUndone: [], at } }),
    ).toMatchObject({ level: 'info', message: ROLLBACK_SUCCEEDED });
    const notUndone = [
      { step: 'migrate', reason: 'irreversible' as const },
      { step: 'start', reason: 'skipped' as const },
      { step: 'pull', reason: 'undo_failed' as const, error: 'registry down' },
      { step: 'dns', reason: 'undo_failed' as const },
    ];
    expect(
      line({ type: 'RollbackFinished', data: { outcome: 'failed', notUndone, at } }),
    ).toMatchObject({ level: 'error', message: rollbackFailedVerdict(notUndone) });
    expect(rollbackFailedVerdict(notUndone)).toMatch(
      /'migrate' \(irreversible\), 'start' \(skipped.*\), 'pull' \(undo failed: registry down\), 'dns' \(undo failed: unknown error\)\.$/,
    );
  });

  it('given the operation succeeded, then an info line', () => {
    expect(line({ type: 'OperationSucceeded', data: { at } })).toMatchObject({
      level: 'info',
      at,
    });
  });

  it('given an event that is not an operation event, then no line', () => {
    expect(
      line({ type: 'ResourceOperationQueued', data: { operationId: 'op-1', at } } as never),
    ).toBeUndefined();
  });
});
