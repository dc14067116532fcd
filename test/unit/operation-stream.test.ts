import { describe, expect, it } from 'vitest';
import { createEventDecoder } from '../../src/domain/event-codec.js';
import type { OperationCommand } from '../../src/domain/decide.js';
import { foldOperation } from '../../src/domain/operation.js';
import { operationStreamName } from '../../src/domain/stream-names.js';
import { loadOperation } from '../../src/engine/operation-stream.js';
import { createOperationWriter } from '../../src/engine/operation-writer.js';
import {
  createInMemoryEventStore,
  InvalidTransitionError,
  OperationNotFoundError,
  type OperationEvent,
} from '../../src/index.js';

const at = '2026-01-05T00:00:00.000Z';
const decode = createEventDecoder();

const request = (operationId: string): OperationCommand => ({
  type: 'RequestOperation',
  data: {
    operationId,
    type: 'deploy',
    environment: 'production',
    resource: { type: 'app', handle: 'web' },
    user: 'ada@example.com',
    params: {},
    createdAt: at,
    steps: [{ name: 'pull', kind: 'undoable' }],
  },
});

/** The writer is the engine's edge for the decider: it appends what the domain decides. */
describe('the operation writer (the engine edge of decide)', () => {
  it('is an instance with its methods on a prototype, not an object literal of closures', () => {
    // V8 pretenured the literal the writer used to be, and each dead writer then kept its run's
    // states alive through young collections (bench/NOTES.md, "Round 10"): made by `new`, it is
    // not pretenured, and no method is allocated per operation.
    const writer = createOperationWriter(createInMemoryEventStore(), decode, 'op-1');
    expect(Object.getPrototypeOf(writer)).not.toBe(Object.prototype);
    for (const method of [
      'state',
      'execute',
      'executeSoon',
      'enqueue',
      'stage',
      'flush',
    ] as const) {
      expect(Object.hasOwn(writer, method)).toBe(false);
      expect(typeof writer[method]).toBe('function');
    }
  });

  it('raises a command on a stream with no events as OperationNotFoundError naming the operation', async () => {
    const store = createInMemoryEventStore();
    const writer = createOperationWriter(store, decode, 'op-9');
    const refused = writer.execute({ type: 'StartOperation', data: { at } });
    await expect(refused).rejects.toBeInstanceOf(OperationNotFoundError);
    await expect(refused).rejects.toMatchObject({ operationId: 'op-9' });
    expect(await store.readStream(operationStreamName('op-9'))).toEqual([]);
  });

  it('raises a refused command as its typed error, appends nothing and keeps its state', async () => {
    const store = createInMemoryEventStore();
    const writer = createOperationWriter(store, decode, 'op-1');
    await writer.execute(request('op-1'));
    const before = writer.state();
    const refused = writer.execute({ type: 'FinishRollback', data: { at } });
    await expect(refused).rejects.toBeInstanceOf(InvalidTransitionError);
    await expect(refused).rejects.toMatchObject({
      code: 'INVALID_TRANSITION',
      operationId: 'op-1',
    });
    expect(writer.state()).toBe(before);
    expect(await store.readStream(operationStreamName('op-1'))).toHaveLength(1);
  });

  it('keeps the state its events lead to: the fold of what the stream holds', async () => {
    const store = createInMemoryEventStore();
    const writer = createOperationWriter(store, decode, 'op-1');
    const events: OperationEvent[] = [
      ...(await writer.execute(request('op-1'))),
      ...(await writer.execute({ type: 'StartOperation', data: { at } })),
      ...(await writer.execute({ type: 'StartStep', data: { step: 'pull', attempt: 1, at } })),
    ];
    expect(events.map((e) => e.type)).toEqual([
      'OperationRequested',
      'OperationStarted',
      'StepStarted',
    ]);
    expect(writer.state()).toStrictEqual(foldOperation(events));
    expect(writer.state()).toStrictEqual((await loadOperation(store, decode, 'op-1')).state);
  });
});
