import { describe, expect, it } from 'vitest';
import { createEngine, createInMemoryEventStore, defineOperation, step } from '../../src/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { request, setup, until } from '../support/fixtures.js';
import { createGate } from '../support/gate.js';

const gatedDeploy = (gates: Map<string, ReturnType<typeof createGate>>, journal: string[]) =>
  defineOperation({
    type: 'deploy',
    steps: [
      step({
        name: 'work',
        run: async ({ operationId }) => {
          journal.push(`start ${operationId}`);
          await gates.get(operationId)?.wait();
          journal.push(`end ${operationId}`);
        },
        undo: () => undefined,
      }),
    ],
  });

describe('one operation per resource at a time', () => {
  it('queues later operations on the same resource, in order, and runs other resources at once', async () => {
    const gates = new Map([
      ['op-000001', createGate()],
      ['op-000003', createGate()],
    ]);
    const journal: string[] = [];
    const { engine } = setup([gatedDeploy(gates, journal)]);
    const a = await engine.start(request());
    const b = await engine.start(request());
    const other = await engine.start(request({ resource: { type: 'database', handle: 'db' } }));
    const c = await engine.start(request());
    await until(() => gates.get('op-000001')!.entered && gates.get('op-000003')!.entered);
    expect((await engine.getOperation(a.id)).status).toBe('running');
    expect((await engine.getOperation(b.id)).status).toBe('queued');
    expect((await engine.getOperation(c.id)).status).toBe('queued');
    expect((await engine.getOperation(other.id)).status).toBe('running');
    gates.get('op-000001')!.open();
    gates.get('op-000003')!.open();
    await Promise.all([a.result, b.result, c.result, other.result]);
    const onWeb = journal.filter((j) => !j.endsWith('op-000003'));
    expect(onWeb).toEqual([
      'start op-000001',
      'end op-000001',
      'start op-000002',
      'end op-000002',
      'start op-000004',
      'end op-000004',
    ]);
    expect(journal.indexOf('start op-000003')).toBeLessThan(journal.indexOf('end op-000001'));
  });

  it('serialises two engines sharing one store through the resource stream', async () => {
    const store = createInMemoryEventStore();
    let active = 0;
    let maxActive = 0;
    const op = defineOperation({
      type: 'deploy',
      steps: ['one', 'two', 'three'].map((name) =>
        step({
          name,
          run: async () => {
            active++;
            maxActive = Math.max(maxActive, active);
            await new Promise((r) => setImmediate(r));
            active--;
          },
          undo: () => undefined,
        }),
      ),
    });
    const make = (prefix: string) =>
      createEngine({
        store,
        operations: [op],
        clock: createVirtualClock(),
        ids: createSequentialIds(prefix),
      });
    const [e1, e2] = [make('a-'), make('b-')];
    const handles = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? e1 : e2).start(request())),
    );
    const results = await Promise.all(handles.map((h) => h.result));
    expect(results.every((r) => r.status === 'succeeded')).toBe(true);
    expect(maxActive).toBe(1);
    // Order of execution is the queue order recorded on the resource stream.
    const resource = await store.readStream('resource-production/app/web');
    const queued = resource
      .filter((e) => e.type === 'ResourceOperationQueued')
      .map((e) => (e.data as { operationId: string }).operationId);
    const started = resource
      .filter((e) => e.type === 'ResourceOperationStarted')
      .map((e) => (e.data as { operationId: string }).operationId);
    expect(started).toEqual(queued);
    expect(new Set(started.map((id) => id.slice(0, 2)))).toEqual(new Set(['a-', 'b-']));
  });
});
