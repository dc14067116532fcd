import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OperationEvent } from '../../src/domain/events.js';
import { evolve, type OperationState, type StepRecord } from '../../src/domain/operation.js';

const at = '2026-01-05T00:00:00.000Z';
const later = '2026-01-05T00:00:01.000Z';
const error = { name: 'Error', message: 'boom', causes: [] };

/**
 * What each event may change, beyond `lastEventAt` (every event sets it): of the state, of its
 * rollback and of the step it names. Everything else must come out of `evolve` as it went in.
 */
const changes: Record<
  Exclude<OperationEvent['type'], 'OperationRequested'>,
  { state: string[]; rollback?: string[]; step?: string[] }
> = {
  LogWritten: { state: [] },
  OperationStarted: { state: ['status', 'startedAt'] },
  StepStarted: {
    state: ['steps', 'inFlight'],
    step: ['status', 'attempts', 'outcomeUnknown', 'provider'],
  },
  StepSucceeded: {
    state: ['steps', 'inFlight', 'completedCount'],
    step: ['status', 'output', 'provider', 'completedAs', 'outcomeUnknown'],
  },
  StepFailed: {
    state: ['steps', 'inFlight', 'completedCount'],
    step: ['status', 'outcomeUnknown', 'completedAs', 'heartbeat'],
  },
  OperationClaimed: { state: ['owner'] },
  OperationTakenOver: { state: ['owner'] },
  CancellationRequested: { state: ['cancelled', 'cancelledBy'] },
  OperationFailed: { state: ['status', 'failure', 'finishedAt'] },
  RollbackStarted: {
    state: ['rollback', 'finishedAt'],
    rollback: ['status', 'reason', 'undoFailed', 'reported'],
  },
  StepUndoStarted: { state: ['rollback'], rollback: ['undoInFlight'] },
  StepUndone: { state: ['rollback'], rollback: ['undoInFlight', 'undone'] },
  StepUndoFailed: { state: ['rollback'], rollback: ['undoInFlight', 'undoFailed'] },
  StepNotUndoable: { state: ['rollback'], rollback: ['reported', 'skipped'] },
  RollbackFinished: {
    state: ['rollback', 'finishedAt'],
    rollback: ['status', 'notUndone'],
  },
  OperationSucceeded: { state: ['status', 'finishedAt', 'effects'] },
};

const word = fc.string({ minLength: 1, maxLength: 6 });

/** A state with every field set, optional ones too, to random values. */
const fullState: fc.Arbitrary<Required<OperationState>> = fc
  .record({
    step: fc.record<Required<StepRecord>>({
      name: fc.constant('pull'),
      kind: fc.constantFrom('undoable', 'irreversible', 'no_side_effects'),
      status: fc.constantFrom('pending', 'running', 'succeeded', 'failed'),
      attempts: fc.nat(5),
      provider: word,
      output: fc.jsonValue(),
      completedAs: fc.nat(5),
      outcomeUnknown: fc.boolean(),
      heartbeat: fc.jsonValue(),
    }),
    words: fc.array(word, { minLength: 12, maxLength: 12 }),
    cancelled: fc.boolean(),
    count: fc.nat(5),
  })
  .map(({ step, words: w, cancelled, count }) => ({
    status: 'running',
    id: w[0]!,
    type: w[1]!,
    environment: w[2]!,
    resource: { type: 'app', handle: w[3]! },
    user: w[4]!,
    params: { n: w[5]! },
    idempotencyKey: w[6]!,
    lifecycle: 'provision',
    createdAt: at,
    startedAt: at,
    finishedAt: at,
    cancelled,
    cancelledBy: w[7]!,
    plan: ['pull', 'other'],
    steps: {
      pull: step,
      other: { name: 'other', kind: 'undoable', status: 'pending', attempts: 0 },
    },
    completedCount: count,
    inFlight: 'pull',
    failure: { reason: 'failure', failedStep: 'pull', error, rollbackRequired: true },
    rollback: {
      status: 'in_progress',
      reason: 'failure',
      undone: [w[8]!],
      skipped: [w[9]!],
      undoFailed: { [w[10]!]: 'x' },
      reported: [w[11]!],
      undoInFlight: 'pull',
      notUndone: [{ step: 'pull', reason: 'irreversible' }],
    },
    lastEventAt: at,
    effects: { lifecycle: 'provision', release: 'r1' },
    dispatch: 'worker',
    owner: { worker: w[0]!, lease: `${w[0]!}.1`, fence: count + 1 },
  }));

const event: fc.Arbitrary<Exclude<OperationEvent, { type: 'OperationRequested' }>> =
  fc.constantFrom(
    { type: 'LogWritten', data: { level: 'info', message: 'x', at: later } },
    { type: 'OperationStarted', data: { at: later } },
    { type: 'OperationClaimed', data: { worker: 'w9', lease: 'w9.1', fence: 1, at: later } },
    {
      type: 'OperationTakenOver',
      data: {
        from: { worker: 'w1', lease: 'w1.1' },
        worker: 'w9',
        lease: 'w9.1',
        fence: 7,
        reason: 'lease_expired',
        leaseEndedAt: at,
        at: later,
      },
    },
    { type: 'StepStarted', data: { step: 'pull', attempt: 3, provider: 'b', at: later } },
    { type: 'StepSucceeded', data: { step: 'pull', attempt: 3, output: 1, at: later } },
    { type: 'StepFailed', data: { step: 'pull', attempt: 3, error, willRetry: true, at: later } },
    {
      type: 'StepFailed',
      data: { step: 'pull', attempt: 3, error, willRetry: false, possiblyDone: true, at: later },
    },
    { type: 'CancellationRequested', data: { user: 'bob', at: later } },
    {
      type: 'OperationFailed',
      data: { reason: 'failure', error, rollbackRequired: false, at: later },
    },
    { type: 'RollbackStarted', data: { reason: 'continue', plan: ['pull'], at: later } },
    {
      type: 'StepUndoStarted',
      data: { step: 'other', attempt: 1, outcome: 'succeeded', at: later },
    },
    { type: 'StepUndone', data: { step: 'pull', attempt: 1, at: later } },
    {
      type: 'StepUndoFailed',
      data: { step: 'pull', attempt: 1, error, willRetry: false, at: later },
    },
    { type: 'StepNotUndoable', data: { step: 'other', reason: 'skipped', at: later } },
    { type: 'RollbackFinished', data: { outcome: 'failed', notUndone: [], at: later } },
    { type: 'OperationSucceeded', data: { at: later, effects: { release: 'r2' } } },
  );

const unchanged = (before: object, after: object, changed: readonly string[]) => {
  for (const [key, value] of Object.entries(before)) {
    if (changed.includes(key)) continue;
    expect(after, `field '${key}'`).toHaveProperty([key]);
    expect((after as Record<string, unknown>)[key], `field '${key}'`).toStrictEqual(value);
  }
};

describe('evolve keeps every field an event does not change', () => {
  it('of the state, its rollback and its steps, whatever the state holds', () => {
    fc.assert(
      fc.property(fullState, event, (state, e) => {
        const before = structuredClone(state);
        const after = evolve(state, e);
        const { state: fields, rollback = [], step = [] } = changes[e.type];
        unchanged(before, after, [...fields, 'lastEventAt', 'steps', 'rollback']);
        expect(after.lastEventAt).toBe(later);
        unchanged(before.rollback, after.rollback, rollback);
        unchanged(before.steps.pull as StepRecord, after.steps.pull as StepRecord, step);
        expect(after.steps.other).toStrictEqual(before.steps.other);
      }),
    );
  });
});
