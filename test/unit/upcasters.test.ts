import { firstValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createEngine, createInMemoryEventStore, defineOperation, step } from '../../src/index.js';
import { eventVersions } from '../../src/domain/index.js';
import { createVirtualClock } from '../../src/testing/index.js';

const at = '2026-01-05T00:00:00.000Z';

describe('OperationRequested v1 -> v2', () => {
  it('reads operations stored by the v1 layout as the current one', async () => {
    expect(eventVersions.OperationRequested).toBe(2);
    const store = createInMemoryEventStore();
    // Written as an opledger of the v1 layout wrote it: flat resource fields.
    await store.append('operation-old-1', [
      {
        type: 'OperationRequested',
        version: 1,
        data: {
          operationId: 'old-1',
          type: 'restart',
          environment: 'production',
          resourceType: 'database',
          resourceHandle: 'db',
          user: 'ada@example.com',
          params: {},
          createdAt: at,
          steps: [{ name: 'restart', kind: 'no_side_effects' }],
        },
      },
      { type: 'OperationStarted', version: 1, data: { at } },
      { type: 'StepStarted', version: 1, data: { step: 'restart', attempt: 1, at } },
      { type: 'StepSucceeded', version: 1, data: { step: 'restart', attempt: 1, at } },
      { type: 'OperationSucceeded', version: 1, data: { at } },
    ]);
    const engine = createEngine({
      store,
      clock: createVirtualClock(),
      operations: [
        defineOperation({
          type: 'restart',
          steps: [step({ name: 'restart', kind: 'no_side_effects', run: () => undefined })],
        }),
      ],
    });
    expect(await engine.getOperation('old-1')).toMatchObject({
      resource: { type: 'database', handle: 'db' },
      status: 'succeeded',
    });
    const lines = await firstValueFrom(engine.logs('old-1').pipe(toArray()));
    expect(lines[0]?.message).toBe(
      'Operation restart requested by ada@example.com on database db in environment production',
    );
    // New events are written at the current version.
    const handle = await engine.start({
      type: 'restart',
      environment: 'production',
      resource: { type: 'database', handle: 'db' },
      user: 'ada@example.com',
    });
    await handle.result;
    const [requested] = await store.readStream(`operation-${handle.id}`, { maxCount: 1 });
    expect(requested?.version).toBe(2);
    expect(requested?.data).toMatchObject({ resource: { type: 'database', handle: 'db' } });
  });
});
