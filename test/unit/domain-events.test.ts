import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent } from '../../src/domain/event-codec.js';
import {
  eventSchemas,
  eventVersions,
  isOperationEvent,
  type DomainEvent,
  type EventOf,
} from '../../src/domain/events.js';

const at = '2026-01-05T00:00:00.000Z';
const error = { name: 'Error', message: 'boom', code: 'E1', causes: ['below'] };

/** One event of every type with every field set, each enum value used at least once. */
const everyEvent: DomainEvent[] = [
  {
    type: 'OperationRequested',
    data: {
      operationId: 'op-1',
      type: 'deploy',
      environment: 'production',
      resource: { type: 'app', handle: 'web' },
      user: 'ada@example.com',
      params: { image: 'web:v2' },
      createdAt: at,
      idempotencyKey: 'key-1',
      steps: [
        { name: 'pull', kind: 'undoable' },
        { name: 'migrate', kind: 'irreversible' },
        { name: 'check', kind: 'no_side_effects' },
      ],
      lifecycle: 'provision',
      dispatch: 'worker',
    },
  },
  { type: 'OperationClaimed', data: { worker: 'w1', lease: 'w1.a', fence: 1, at } },
  {
    type: 'OperationTakenOver',
    data: {
      from: { worker: 'w1', lease: 'w1.a' },
      worker: 'w2',
      lease: 'w2.b',
      fence: 2,
      reason: 'lease_expired',
      leaseEndedAt: at,
      at,
    },
  },
  {
    type: 'OperationTakenOver',
    data: {
      from: { worker: 'w2', lease: 'w2.b' },
      worker: 'w3',
      lease: 'w3.c',
      fence: 3,
      reason: 'lease_released',
      leaseEndedAt: at,
      at,
    },
  },
  { type: 'OperationStarted', data: { at } },
  { type: 'StepStarted', data: { step: 'pull', attempt: 2, provider: 'registry-b', at } },
  { type: 'LogWritten', data: { step: 'pull', level: 'info', message: 'pulling', at } },
  { type: 'LogWritten', data: { level: 'warn', message: 'slow', at } },
  { type: 'LogWritten', data: { level: 'error', message: '', at } },
  {
    type: 'StepSucceeded',
    data: { step: 'pull', attempt: 2, provider: 'registry-b', output: { layers: 3 }, at },
  },
  {
    type: 'StepFailed',
    data: {
      step: 'pull',
      attempt: 1,
      provider: 'registry-a',
      error,
      willRetry: true,
      retryInMs: 0,
      failoverTo: 'registry-b',
      cancelled: false,
      possiblyDone: true,
      heartbeat: { copied: 3, of: [1, 'two', null] },
      at,
    },
  },
  { type: 'CancellationRequested', data: { user: 'bob', at } },
  {
    type: 'OperationFailed',
    data: { reason: 'failure', failedStep: 'pull', error, rollbackRequired: true, at },
  },
  {
    type: 'OperationFailed',
    data: { reason: 'cancellation', error, rollbackRequired: false, at },
  },
  { type: 'OperationFailed', data: { reason: 'recovery', error, rollbackRequired: true, at } },
  { type: 'OperationFailed', data: { reason: 'worker_lost', error, rollbackRequired: true, at } },
  {
    type: 'RollbackStarted',
    data: { reason: 'continue', plan: ['pull', 'migrate'], skip: ['pull'], at },
  },
  { type: 'RollbackStarted', data: { reason: 'failure', plan: [], at } },
  { type: 'RollbackStarted', data: { reason: 'cancellation', plan: [], at } },
  { type: 'RollbackStarted', data: { reason: 'recovery', plan: [], at } },
  { type: 'RollbackStarted', data: { reason: 'worker_lost', plan: [], at } },
  { type: 'StepUndoStarted', data: { step: 'pull', attempt: 1, outcome: 'succeeded', at } },
  { type: 'StepUndoStarted', data: { step: 'pull', attempt: 2, outcome: 'unknown', at } },
  { type: 'StepUndone', data: { step: 'pull', attempt: 2, at } },
  {
    type: 'StepUndoFailed',
    data: { step: 'pull', attempt: 1, error, willRetry: true, retryInMs: 500, at },
  },
  { type: 'StepNotUndoable', data: { step: 'migrate', reason: 'irreversible', at } },
  { type: 'StepNotUndoable', data: { step: 'pull', reason: 'skipped', at } },
  {
    type: 'RollbackFinished',
    data: {
      outcome: 'failed',
      notUndone: [
        { step: 'migrate', reason: 'irreversible' },
        { step: 'pull', reason: 'undo_failed', error: 'registry down' },
        { step: 'dns', reason: 'skipped' },
      ],
      at,
    },
  },
  { type: 'RollbackFinished', data: { outcome: 'succeeded', notUndone: [], at } },
  {
    type: 'OperationSucceeded',
    data: { at, effects: { lifecycle: 'deprovision', release: 'web:v2' } },
  },
  { type: 'ResourceOperationQueued', data: { operationId: 'op-1', at } },
  { type: 'ResourceOperationStarted', data: { operationId: 'op-1', at } },
  { type: 'ResourceOperationFinished', data: { operationId: 'op-1', at } },
  {
    type: 'ResourceQueueSnapshotted',
    data: { upTo: '299', position: '1200', waiting: ['op-2', 'op-3'], holder: 'op-2', at },
  },
  { type: 'IdempotencyKeyClaimed', data: { key: 'key-1', operationId: 'op-1', at } },
  {
    type: 'WorkerLeaseAcquired',
    data: {
      lease: 'w1.a',
      worker: 'w1',
      host: 'box',
      pid: 42,
      ttlMs: 15_000,
      renewEveryMs: 5_000,
      concurrency: 16,
      operations: ['deploy'],
      at,
    },
  },
  { type: 'WorkerLeaseRenewed', data: { holding: ['op-1'], at } },
  { type: 'WorkerLeaseReleased', data: { holding: [], at } },
  { type: 'WorkerLeaseExpired', data: { by: 'w2.b', lastRenewedAt: at, at } },
  { type: 'WorkerRegistered', data: { lease: 'w1.a', worker: 'w1', at } },
];

const stored = (event: DomainEvent) => {
  const data = encodeEvent(event);
  return {
    ...data,
    streamName: 's',
    streamRevision: 0n,
    globalPosition: 1n,
    recordedAt: new Date(at),
  };
};

describe('the events and their schemas', () => {
  it('given an example of every event type with every field set, then it is written and read back unchanged', () => {
    expect(new Set(everyEvent.map((e) => e.type))).toEqual(new Set(Object.keys(eventSchemas)));
    for (const event of everyEvent) {
      expect(encodeEvent(event).data, event.type).toStrictEqual(event.data);
      expect(decodeEvent(stored(event)), event.type).toStrictEqual(event);
    }
  });

  it('given the current versions, then OperationRequested is at 2 (resource as one object) and every other type at 1', () => {
    for (const type of Object.keys(eventSchemas)) {
      expect(eventVersions[type as keyof typeof eventVersions], type).toBe(
        type === 'OperationRequested' ? 2 : 1,
      );
    }
  });

  it('given events of each stream, then only those of an operation stream are operation events', () => {
    const kinds = everyEvent.map((e) => [e.type, isOperationEvent(e)]);
    expect(Object.fromEntries(kinds)).toEqual({
      OperationRequested: true,
      OperationClaimed: true,
      OperationTakenOver: true,
      OperationStarted: true,
      StepStarted: true,
      LogWritten: true,
      StepSucceeded: true,
      StepFailed: true,
      CancellationRequested: true,
      OperationFailed: true,
      RollbackStarted: true,
      StepUndoStarted: true,
      StepUndone: true,
      StepUndoFailed: true,
      StepNotUndoable: true,
      RollbackFinished: true,
      OperationSucceeded: true,
      ResourceOperationQueued: false,
      ResourceOperationStarted: false,
      ResourceOperationFinished: false,
      ResourceQueueSnapshotted: false,
      IdempotencyKeyClaimed: false,
      WorkerLeaseAcquired: false,
      WorkerLeaseRenewed: false,
      WorkerLeaseReleased: false,
      WorkerLeaseExpired: false,
      WorkerRegistered: false,
    });
  });

  it('given a field out of its schema, then the event is refused: empty names, attempt 0, a timestamp with an offset, a negative retry delay, an operation with no step', () => {
    const requested = everyEvent[0] as EventOf<'OperationRequested'>;
    const refused: DomainEvent[] = [
      { type: 'StepStarted', data: { step: '', attempt: 1, at } },
      { type: 'StepStarted', data: { step: 'pull', attempt: 0, at } },
      { type: 'StepStarted', data: { step: 'pull', attempt: 1.5, at } },
      { type: 'StepStarted', data: { step: 'pull', attempt: 1, at: '2026-01-05T00:00:00+01:00' } },
      {
        type: 'StepUndoFailed',
        data: { step: 'pull', attempt: 1, error, willRetry: true, retryInMs: -1, at },
      },
      { type: 'ResourceOperationQueued', data: { operationId: '', at } },
      { type: 'IdempotencyKeyClaimed', data: { key: '', operationId: 'op-1', at } },
      { type: 'OperationSucceeded', data: { at, effects: { release: '' } } },
      { type: 'OperationRequested', data: { ...requested.data, steps: [] } },
      {
        type: 'OperationRequested',
        data: { ...requested.data, resource: { type: 'app', handle: '' } },
      },
    ];
    for (const event of refused) {
      expect(() => encodeEvent(event), JSON.stringify(event)).toThrow(/Refusing to write/);
    }
  });

  it('given an event refused, then the error lists each problem at its path, the data itself as (root)', () => {
    const bad = {
      type: 'OperationRequested',
      data: {
        ...(everyEvent[0] as EventOf<'OperationRequested'>).data,
        resource: { type: '', handle: '' },
      },
    } as DomainEvent;
    expect(() => encodeEvent(bad)).toThrow(/resource\.type: [^;]+; resource\.handle: /);
    expect(() => encodeEvent({ type: 'OperationStarted', data: 'now' } as never)).toThrow(
      /\(root\): /,
    );
  });
});
