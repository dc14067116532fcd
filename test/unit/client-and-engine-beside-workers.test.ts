import { describe, expect, it } from 'vitest';
import {
  createClient,
  createEngine,
  createInMemoryEventStore,
  createWorker,
  defineOperation,
  step,
} from '../../src/index.js';
import { allLines, messages, request } from '../support/fixtures.js';

/** What docs/workers.md says of clients and engines beside workers. */
describe('a client and an engine beside workers', () => {
  it('client.start refuses an operation with sensitive params and writes nothing', async () => {
    const store = createInMemoryEventStore();
    const login = defineOperation({
      type: 'deploy',
      sensitive: ['password'],
      steps: [step({ name: 'log in', kind: 'no_side_effects', run: () => ({}) })],
    });
    const client = createClient({ store, operations: [login] });
    const before = await store.headPosition();
    await expect(client.start(request({ params: { password: 's3cret' } }))).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringMatching(/sensitive params \(password\)/) as string,
    });
    expect(await store.headPosition()).toBe(before);
  });

  it('an operation createEngine started, or queued, is never claimed by a worker: its engine runs it', async () => {
    const store = createInMemoryEventStore();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const deploy = defineOperation<{ hold?: boolean }>({
      type: 'deploy',
      steps: [
        step({
          name: 'work',
          run: async ({ params }) => {
            if (params.hold) await held;
            return {};
          },
          undo: () => undefined,
        }),
      ],
    });
    const engine = createEngine({ store, operations: [deploy] });
    const running = await engine.start(request({ params: { hold: true } }));
    const queued = await engine.start(request({ params: {} }));
    const worker = await createWorker({
      store,
      operations: [deploy],
      identity: 'w1',
      lease: { ttlMs: 300, renewEveryMs: 100 },
    });
    try {
      // Requested after the engine's two: by the time the worker has run it, it has seen them.
      const client = createClient({ store, operations: [deploy] });
      const other = await client.start(request({ resource: { type: 'app', handle: 'api' } }));
      expect((await other.result).status).toBe('succeeded');
      expect(messages(await allLines({ logs: client.logs(other.id) }))).toContain(
        'Claimed by worker w1',
      );
      expect((await engine.getOperation(running.id)).status).toBe('running');
      expect((await engine.getOperation(queued.id)).status).toBe('queued');

      release();
      expect((await running.result).status).toBe('succeeded');
      expect((await queued.result).status).toBe('succeeded');
      for (const handle of [running, queued]) {
        expect(messages(await allLines(handle)).join('\n')).not.toMatch(/worker/i);
      }
    } finally {
      await worker.shutdown({ graceMs: 0 });
    }
  });
});
