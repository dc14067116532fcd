import { describe, expect, it } from 'vitest';
import {
  createClient,
  createEngine,
  createInMemoryEventStore,
  createWorker,
  defineOperation,
  listWorkers,
  LeaseLostError,
  OperationLostError,
  step,
  type StepContext,
  type Worker,
  type WorkerLogEntry,
} from '../../src/index.js';
import { allLines, messages, request, until } from '../support/fixtures.js';
import { createManualClock } from '../support/manual-clock.js';

const fast = { ttlMs: 300, renewEveryMs: 100 };

/** A step that records when it ran on which resource, by which fence, and waits a little. */
const recording = () => {
  const log: { op: string; resource: string; phase: 'start' | 'end'; fence: number }[] = [];
  const deploy = defineOperation({
    type: 'deploy',
    steps: [
      step({
        name: 'work',
        run: async (ctx: StepContext) => {
          const resource = String(ctx.params.resource);
          log.push({ op: ctx.operationId, resource, phase: 'start', fence: ctx.fence });
          await new Promise((r) => setTimeout(r, 5));
          log.push({ op: ctx.operationId, resource, phase: 'end', fence: ctx.fence });
          return { done: true };
        },
        undo: () => undefined,
      }),
    ],
  });
  return { log, deploy };
};

const entries = () => {
  const seen: WorkerLogEntry[] = [];
  return { seen, log: (e: WorkerLogEntry) => void seen.push(e) };
};

describe('workers on one store', () => {
  it('given requests raced from a client, then two workers run each once, one at a time per resource, in request order', async () => {
    const store = createInMemoryEventStore();
    const { log, deploy } = recording();
    const workers: Worker[] = await Promise.all(
      ['w1', 'w2'].map((identity) =>
        // A lease that cannot expire during the run: the test is about claims and order, and a
        // 300 ms lease ran out on a loaded machine (a takeover, fence 2) now and then.
        createWorker({
          store,
          operations: [deploy],
          identity,
          concurrency: 4,
          lease: { ttlMs: 30_000, renewEveryMs: fast.renewEveryMs },
        }),
      ),
    );
    const client = createClient({ store, operations: [deploy] });
    const handles = await Promise.all(
      Array.from({ length: 12 }, (_, i) => {
        const resource = `app-${i % 3}`;
        return client.start(
          request({ resource: { type: 'app', handle: resource }, params: { resource } }),
        );
      }),
    );
    const results = await Promise.all(handles.map((h) => h.result));
    expect(results.map((r) => r.status)).toEqual(Array(12).fill('succeeded'));

    // Each ran once, and on each resource one at a time, in the order the queue took them.
    expect(log.filter((e) => e.phase === 'start')).toHaveLength(12);
    for (const resource of ['app-0', 'app-1', 'app-2']) {
      const own = log.filter((e) => e.resource === resource);
      for (let i = 0; i < own.length; i += 2) {
        expect(own[i]).toMatchObject({ phase: 'start' });
        expect(own[i + 1]).toMatchObject({ phase: 'end', op: own[i]!.op });
      }
      const queue = await store.readStream(`resource-production/app/${resource}`);
      const order = queue
        .filter((e) => e.type === 'ResourceOperationQueued')
        .map((e) => (e.data as { operationId: string }).operationId);
      expect(own.filter((e) => e.phase === 'start').map((e) => e.op)).toEqual(order);
    }
    // Every step saw the fence of its first claim.
    expect(new Set(log.map((e) => e.fence))).toEqual(new Set([1]));
    const lines = messages(await allLines(handles[0]!));
    expect(lines.some((l) => /^Claimed by worker w[12]$/.test(l))).toBe(true);
    await Promise.all(workers.map((w) => w.shutdown()));
    const views = await listWorkers(store);
    expect(views.map((v) => [v.worker, v.status]).sort()).toEqual([
      ['w1', 'stopped'],
      ['w2', 'stopped'],
    ]);
  });

  it('given a worker that stops renewing mid-step, then another takes the operation over and rolls it back; the old one is fenced off', async () => {
    const store = createInMemoryEventStore();
    const frozen = createManualClock(); // never advanced: w1's renewals never come
    let signalOfW1: AbortSignal | undefined;
    const undos: number[] = [];
    const deploy = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'first',
          run: () => ({ ok: true }),
          undo: (ctx) => void undos.push(ctx.fence),
        }),
        step({
          name: 'hang',
          run: (ctx) =>
            new Promise((_, reject) => {
              signalOfW1 = ctx.signal;
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            }),
          undo: (ctx) => void undos.push(ctx.fence),
        }),
      ],
    });
    const w1Log = entries();
    const w1 = await createWorker({
      store,
      operations: [deploy],
      identity: 'w1',
      clock: frozen,
      lease: fast,
      log: w1Log.log,
    });
    const client = createClient({ store, operations: [deploy] });
    const handle = await client.start(request());
    await until(() => signalOfW1 !== undefined);

    const w2 = await createWorker({ store, operations: [deploy], identity: 'w2', lease: fast });
    const result = await handle.result;
    expect(result).toMatchObject({ status: 'failed', rollback: 'succeeded' });
    // The first step was undone by w2, under the fence its takeover raised; the hanging step's
    // outcome is unknown, so it is undone too.
    expect(undos).toEqual([2, 2]);
    // w1 saw the takeover on the stream and aborted its step at once.
    await until(() => signalOfW1!.aborted);
    expect(signalOfW1!.reason).toBeInstanceOf(OperationLostError);
    await until(() => w1Log.seen.some((e) => e.message.startsWith(`lost operation ${handle.id}`)));

    const lines = messages(await allLines(handle));
    expect(lines).toContainEqual(
      expect.stringMatching(/^Taken over by worker w2 after w1's lease expired at /),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^Operation interrupted at step 'hang': the worker running this operation stopped/,
      ),
    );
    const events = await store.readStream(`operation-${handle.id}`);
    const takenAt = events.findIndex((e) => e.type === 'OperationTakenOver');
    expect(takenAt).toBeGreaterThan(0);
    expect(
      events.slice(takenAt).some((e) => e.type === 'StepSucceeded' || e.type === 'StepFailed'),
    ).toBe(false);
    expect((await listWorkers(store)).find((v) => v.worker === 'w1')?.status).toBe('lost');
    await w2.shutdown();
    await w1.shutdown({ graceMs: 0 });
  });

  it('given a worker that wakes past its lease, then it aborts its steps before anything else, and takes a new lease', async () => {
    const store = createInMemoryEventStore();
    const clock = createManualClock();
    let signal: AbortSignal | undefined;
    const deploy = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'hang',
          interruptible: false,
          run: (ctx) =>
            new Promise((_, reject) => {
              signal = ctx.signal;
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            }),
          undo: () => undefined,
        }),
      ],
    });
    const seen = entries();
    const worker = await createWorker({
      store,
      operations: [deploy],
      identity: 'w1',
      clock,
      lease: fast,
      log: seen.log,
    });
    const first = worker.lease();
    await createClient({ store, operations: [deploy] }).start(request());
    await until(() => signal !== undefined);
    // As after SIGSTOP: no renewal ran, and the time to live is gone when the process wakes.
    clock.advance(fast.ttlMs + 1);
    await until(() => signal!.aborted);
    // Even a step that is not interruptible: the operation is no longer this worker's.
    expect(signal!.reason).toBeInstanceOf(LeaseLostError);
    await until(() => worker.lease() !== first);
    expect(seen.seen.map((e) => e.message)).toContainEqual(
      expect.stringMatching(new RegExp(`^lease ${first.replace('.', '\\.')} lost`)),
    );
    await worker.shutdown({ graceMs: 0 });
  });

  it('given an operation whose type a worker has no definition for, then it names the type and leaves it for a worker that has it', async () => {
    const store = createInMemoryEventStore();
    const frozen = createManualClock();
    let started = false;
    const deploy = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'hang',
          run: (ctx) =>
            new Promise((_, reject) => {
              started = true;
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            }),
          undo: () => undefined,
        }),
      ],
    });
    const other = defineOperation({
      type: 'restart',
      steps: [step({ name: 's', kind: 'no_side_effects', run: () => undefined })],
    });
    const w1 = await createWorker({
      store,
      operations: [deploy],
      identity: 'w1',
      clock: frozen,
      lease: fast,
      log: () => undefined,
    });
    const handle = await createClient({ store, operations: [deploy] }).start(request());
    await until(() => started);
    const seen = entries();
    const w2 = await createWorker({
      store,
      operations: [other],
      identity: 'w2',
      lease: fast,
      log: seen.log,
    });
    await until(() => seen.seen.some((e) => e.level === 'error'), 1_000_000);
    expect(seen.seen.find((e) => e.level === 'error')?.message).toMatch(
      new RegExp(
        `^Operation ${handle.id} is of type 'deploy', which this worker has no definition for \\(it has: restart\\)`,
      ),
    );
    expect((await createClient({ store }).getOperation(handle.id)).status).toBe('running');
    const w3 = await createWorker({ store, operations: [deploy], identity: 'w3', lease: fast });
    expect(await handle.result).toMatchObject({ status: 'failed', rollback: 'succeeded' });
    await Promise.all([w2.shutdown(), w3.shutdown(), w1.shutdown({ graceMs: 0 })]);
  });

  it('given a shutdown, then it lets a short operation finish, cancels a long one past the grace (rolled back) and releases its lease', async () => {
    const store = createInMemoryEventStore();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const deploy = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'wait',
          run: async (ctx) => {
            if (ctx.params.long) {
              await new Promise((_, reject) =>
                ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
              );
            }
            await gate;
            return { ok: true };
          },
          undo: () => undefined,
        }),
      ],
    });
    const worker = await createWorker({ store, operations: [deploy], identity: 'w1', lease: fast });
    const client = createClient({ store, operations: [deploy] });
    const short = await client.start(request({ resource: { type: 'app', handle: 'a' } }));
    const long = await client.start(
      request({ resource: { type: 'app', handle: 'b' }, params: { long: true } }),
    );
    await until(() => worker.running().length === 2, 1_000_000);
    const stopping = worker.shutdown({ graceMs: 50 });
    release();
    await stopping;
    expect((await short.result).status).toBe('succeeded');
    expect(await long.result).toMatchObject({
      status: 'failed',
      cancelled: true,
      rollback: 'succeeded',
    });
    expect(messages(await allLines(long))).toContain(
      'Cancellation requested by worker w1 (shutting down)',
    );
    expect((await listWorkers(store))[0]).toMatchObject({
      worker: 'w1',
      status: 'stopped',
      holding: [],
    });
  });

  it('given an operation started by an engine, then no worker claims it: the engine runs it', async () => {
    const store = createInMemoryEventStore();
    const { deploy } = recording();
    const worker = await createWorker({ store, operations: [deploy], identity: 'w1', lease: fast });
    const engine = createEngine({ store, operations: [deploy] });
    const handle = await engine.start(request({ params: { resource: 'web' } }));
    expect((await handle.result).status).toBe('succeeded');
    const types = (await store.readStream(`operation-${handle.id}`)).map((e) => e.type);
    expect(types).not.toContain('OperationClaimed');
    await worker.shutdown();
  });

  it('refuses options that cannot work, with what to change', async () => {
    const store = createInMemoryEventStore();
    const { deploy } = recording();
    await expect(
      createWorker({ store, operations: [deploy], lease: { ttlMs: 100, renewEveryMs: 100 } }),
    ).rejects.toThrow(/renewEveryMs \(100\) must be shorter than lease.ttlMs \(100\)/);
    await expect(createWorker({ store, operations: [deploy], concurrency: 0 })).rejects.toThrow(
      /concurrency must be a whole number of 1 or more/,
    );
  });
});
