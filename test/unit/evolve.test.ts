import { describe, expect, it } from 'vitest';
import type { OperationEvent } from '../../src/domain/events.js';
import {
  evolve,
  initialState,
  type OperationState,
  type StepRecord,
} from '../../src/domain/operation.js';

const at = '2026-01-05T00:00:00.000Z';
const error = { name: 'Error', message: 'boom', causes: ['below'] };

/** One event of every kind that changes the state, in an order the engine could write them. */
const history = (): OperationEvent[] => [
  {
    type: 'OperationRequested',
    data: {
      operationId: 'op-1',
      type: 'deploy',
      environment: 'production',
      resource: { type: 'app', handle: 'web' },
      user: 'ada@example.com',
      params: { image: { name: 'web', tags: ['v2'] } },
      createdAt: at,
      idempotencyKey: 'k-1',
      lifecycle: 'provision',
      steps: [
        { name: 'pull', kind: 'undoable' },
        { name: 'migrate', kind: 'irreversible' },
        { name: 'start', kind: 'undoable' },
      ],
    },
  },
  { type: 'OperationStarted', data: { at } },
  { type: 'StepStarted', data: { step: 'pull', attempt: 1, provider: 'p1', at } },
  { type: 'LogWritten', data: { step: 'pull', level: 'info', message: 'pulling', at } },
  {
    type: 'StepSucceeded',
    data: { step: 'pull', attempt: 1, output: { layers: [{ digest: 'sha' }] }, at },
  },
  { type: 'StepStarted', data: { step: 'migrate', attempt: 1, at } },
  { type: 'StepSucceeded', data: { step: 'migrate', attempt: 1, at } },
  { type: 'StepStarted', data: { step: 'start', attempt: 1, at } },
  {
    type: 'StepFailed',
    data: { step: 'start', attempt: 1, error, willRetry: false, possiblyDone: true, at },
  },
  { type: 'CancellationRequested', data: { user: 'bob@example.com', at } },
  {
    type: 'OperationFailed',
    data: { reason: 'failure', failedStep: 'start', error, rollbackRequired: true, at },
  },
  { type: 'RollbackStarted', data: { reason: 'failure', plan: ['start', 'pull'], at } },
  { type: 'StepUndoStarted', data: { step: 'start', attempt: 1, outcome: 'unknown', at } },
  { type: 'StepUndoFailed', data: { step: 'start', attempt: 1, error, willRetry: false, at } },
  { type: 'StepNotUndoable', data: { step: 'migrate', reason: 'irreversible', at } },
  { type: 'StepUndoStarted', data: { step: 'pull', attempt: 1, outcome: 'succeeded', at } },
  { type: 'StepUndone', data: { step: 'pull', attempt: 1, at } },
  {
    type: 'RollbackFinished',
    data: {
      outcome: 'failed',
      notUndone: [
        { step: 'start', reason: 'undo_failed', error: 'boom' },
        { step: 'migrate', reason: 'irreversible' },
      ],
      at,
    },
  },
];

const deeplyFrozen = (value: unknown): boolean =>
  value === null ||
  typeof value !== 'object' ||
  (Object.isFrozen(value) && Object.values(value).every(deeplyFrozen));

describe('evolve', () => {
  it('returns deeply frozen states and never changes the state it is given', () => {
    let state = initialState();
    for (const event of history()) {
      const before = structuredClone(state);
      const after = evolve(state, event);
      expect(after).not.toBe(state);
      expect(deeplyFrozen(after)).toBe(true);
      expect(state).toStrictEqual(before);
      state = after;
    }
    expect(state).toMatchObject({
      status: 'failed',
      cancelled: true,
      params: { image: { name: 'web', tags: ['v2'] } },
      rollback: { status: 'failed', undone: ['pull'], reported: ['migrate'] },
    });
    expect(state.steps.pull?.output).toEqual({ layers: [{ digest: 'sha' }] });
  });

  it('freezes a state it is given that is not frozen, such as one read back from JSON', () => {
    const events = history();
    const [requested, ...rest] = events;
    const thawed = JSON.parse(JSON.stringify(evolve(initialState(), requested!))) as OperationState;
    const after = rest.reduce(evolve, thawed);
    expect(deeplyFrozen(after)).toBe(true);
    expect(after).toStrictEqual(events.reduce(evolve, initialState()));
  });

  it('keeps every field the event does not change', () => {
    // Typed with every field required: a field added to the state fails to compile here until
    // it is set, and then fails this test if evolve does not carry it over.
    const step: Required<StepRecord> = {
      name: 'pull',
      kind: 'undoable',
      status: 'succeeded',
      attempts: 2,
      provider: 'p1',
      output: { id: 1 },
      completedAs: 0,
      outcomeUnknown: false,
      heartbeat: { copied: 3 },
    };
    const rollback: Required<OperationState['rollback']> = {
      status: 'in_progress',
      reason: 'failure',
      undone: ['a'],
      skipped: ['b'],
      undoFailed: { c: 'boom' },
      reported: ['d'],
      undoInFlight: 'pull',
      notUndone: [{ step: 'd', reason: 'irreversible' }],
    };
    const full: Required<OperationState> = {
      status: 'failed',
      id: 'op-1',
      type: 'deploy',
      environment: 'production',
      resource: { type: 'app', handle: 'web' },
      user: 'ada@example.com',
      params: { n: 1 },
      idempotencyKey: 'k-1',
      lifecycle: 'provision',
      createdAt: at,
      startedAt: at,
      finishedAt: at,
      cancelled: true,
      cancelledBy: 'bob@example.com',
      plan: ['pull'],
      steps: { pull: step },
      completedCount: 1,
      inFlight: 'pull',
      failure: { reason: 'failure', failedStep: 'pull', error, rollbackRequired: true },
      rollback,
      lastEventAt: at,
      effects: { lifecycle: 'provision', release: 'r1' },
      dispatch: 'worker',
      owner: { worker: 'w1', lease: 'w1.a', fence: 2 },
    };
    const later = '2026-01-05T00:00:01.000Z';
    const logged = evolve(structuredClone(full), {
      type: 'LogWritten',
      data: { level: 'info', message: 'still here', at: later },
    });
    expect(logged).toStrictEqual({ ...full, lastEventAt: later });
    const undoStarted = evolve(structuredClone(full), {
      type: 'StepUndoStarted',
      data: { step: 'pull', attempt: 1, outcome: 'succeeded', at: later },
    });
    expect(undoStarted).toStrictEqual({ ...full, lastEventAt: later });
    // An event that copies the rollback without setting the undo in flight keeps it.
    const reported = evolve(structuredClone(full), {
      type: 'StepNotUndoable',
      data: { step: 'e', reason: 'irreversible', at: later },
    });
    expect(reported).toStrictEqual({
      ...full,
      rollback: { ...rollback, reported: ['d', 'e'] },
      lastEventAt: later,
    });
    const restarted = evolve(structuredClone(full), {
      type: 'StepStarted',
      data: { step: 'pull', attempt: 3, at: later },
    });
    expect(restarted.steps.pull).toStrictEqual({
      ...step,
      status: 'running',
      attempts: 3,
      outcomeUnknown: true,
    });
  });
});
