import { describe, expect, it } from 'vitest';
import { createEventDecoder } from '../../src/domain/event-codec.js';
import { OperationLostError } from '../../src/domain/errors.js';
import { operationStreamName } from '../../src/domain/stream-names.js';
import { loadOperation } from '../../src/engine/operation-stream.js';
import { createOperationWriter, type OperationWriter } from '../../src/engine/operation-writer.js';
import {
  createClient,
  createInMemoryEventStore,
  defineOperation,
  step,
  type EventStore,
} from '../../src/index.js';

// The writer's fence (src/engine/operation-writer.ts): a worker's writer appends only while the
// operation's state names its fencing count. These drive the real writer on the in-memory
// store, the way a worker and a client use it.

const at = '2026-01-05T00:00:00.000Z';
const decode = createEventDecoder();
const deploy = defineOperation({
  type: 'deploy',
  steps: [
    step({ name: 'pull', run: () => undefined, undo: () => undefined }),
    step({ name: 'switch', run: () => undefined, undo: () => undefined }),
  ],
});

/** A client's request, claimed by w1 under lease-1: returns w1's fenced writer (fence 1). */
const claimedByW1 = async (store: EventStore) => {
  const client = createClient({ store, operations: [deploy] });
  const { id } = await client.start({
    type: 'deploy',
    environment: 'production',
    resource: { type: 'app', handle: 'web' },
    user: 'ada@example.com',
    params: {},
  });
  const claimer = createOperationWriter(store, decode, id, await loadOperation(store, decode, id));
  await claimer.execute({ type: 'ClaimOperation', data: { worker: 'w1', lease: 'lease-1', at } });
  const w1 = createOperationWriter(store, decode, id, claimer.snapshot(), 1);
  await w1.execute({ type: 'StartOperation', data: { at } });
  return { client, id, w1 };
};

/** w2 takes the operation over from lease-1, at the revision it read: fence 2. */
const takeOverByW2 = async (store: EventStore, id: string): Promise<OperationWriter> => {
  const taker = createOperationWriter(store, decode, id, await loadOperation(store, decode, id));
  await taker.execute({
    type: 'TakeOverOperation',
    data: {
      from: 'lease-1',
      worker: 'w2',
      lease: 'lease-2',
      reason: 'lease_expired',
      leaseEndedAt: at,
      at,
    },
  });
  return createOperationWriter(store, decode, id, taker.snapshot(), 2);
};

const eventTypes = async (store: EventStore, id: string) =>
  (await store.readStream(operationStreamName(id))).map((e) => e.type);

describe('the operation writer, fenced', () => {
  it('given w2 took over from w1, when w1 (fence 1, stale view) appends, then OperationLostError naming w2 and nothing is written', async () => {
    const store = createInMemoryEventStore();
    const { id, w1 } = await claimedByW1(store);
    await takeOverByW2(store, id);
    const before = await eventTypes(store, id);

    // w1 still believes it owns the operation: its append conflicts, it reads the takeover.
    const attempt = w1.execute({ type: 'StartStep', data: { step: 'pull', attempt: 1, at } });
    await expect(attempt).rejects.toBeInstanceOf(OperationLostError);
    await expect(attempt).rejects.toMatchObject({ fence: 1, owner: { worker: 'w2', fence: 2 } });
    // And every later command too, without another try at the store.
    await expect(w1.execute({ type: 'WriteLog', data: logLine() })).rejects.toBeInstanceOf(
      OperationLostError,
    );
    expect(await eventTypes(store, id)).toEqual(before);
    expect(before.at(-1)).toBe('OperationTakenOver');
  });

  it('given w2 took over, when w2 (fence 2) appends, then its events are accepted and carry fence 2 in their metadata', async () => {
    const store = createInMemoryEventStore();
    const { id } = await claimedByW1(store);
    const w2 = await takeOverByW2(store, id);
    await w2.execute({ type: 'StartStep', data: { step: 'pull', attempt: 1, at } });
    const last = (await store.readStream(operationStreamName(id))).at(-1);
    expect(last?.type).toBe('StepStarted');
    expect(last?.metadata).toMatchObject({ fence: 2 });
  });

  it('given a revoked writer (its lease was lost), when it executes or enqueues, then the revoking error and nothing is written', async () => {
    const store = createInMemoryEventStore();
    const { id, w1 } = await claimedByW1(store);
    const before = await eventTypes(store, id);
    const lost = new OperationLostError(id, 1, 'lease_lost');

    w1.revoke(lost);
    await expect(
      w1.execute({ type: 'StartStep', data: { step: 'pull', attempt: 1, at } }),
    ).rejects.toBe(lost);
    w1.enqueue({ type: 'WriteLog', data: logLine() });
    await expect(w1.execute({ type: 'FailOperation', data: { ...failure() } })).rejects.toBe(lost);
    expect(await eventTypes(store, id)).toEqual(before);
  });

  it("given an operation owned by w1, when a client cancels it, then the cancel is written (a client's writer is not fenced) and w1 keeps the operation", async () => {
    const store = createInMemoryEventStore();
    const { client, id, w1 } = await claimedByW1(store);

    const outcome = await client.cancel(id, { user: 'bob' });
    expect(outcome).toBeTruthy();
    expect((await eventTypes(store, id)).at(-1)).toBe('CancellationRequested');

    // w1's next append conflicts with the cancel, reads it, and is still w1's: fence 1 stands.
    await w1.execute({ type: 'FailOperation', data: { ...failure('cancellation') } });
    expect((await eventTypes(store, id)).at(-1)).toBe('OperationFailed');
    expect(w1.state().owner).toEqual({ worker: 'w1', lease: 'lease-1', fence: 1 });
  });
});

function logLine() {
  return { level: 'info' as const, message: 'working', at };
}

function failure(reason: 'failure' | 'cancellation' = 'failure') {
  return {
    reason,
    error: { name: 'Error', message: 'stopped', causes: [] },
    rollbackRequired: false,
    at,
  };
}
