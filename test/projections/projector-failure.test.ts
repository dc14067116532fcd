import { describe, expect, it } from 'vitest';
import { createInMemoryReadStore, StoredEventError, type ReadStore } from '../../src/index.js';
import { createProjector } from '../../src/projections/index.js';
import { request } from '../support/fixtures.js';
import { projectionSetup } from '../support/projections.js';
import { dumpReadStore } from '../support/read-store-dump.js';

describe('a projector that meets an error', () => {
  it('never commits past a failed batch: it stops, reports, and resumes from its checkpoint', async () => {
    const s = projectionSetup();
    const inner = createInMemoryReadStore();
    let failNext = false;
    const flaky: ReadStore = {
      ...inner,
      transaction: async (projection, position, apply) => {
        if (failNext) {
          failNext = false;
          throw new Error('disk full');
        }
        return inner.transaction(projection, position, apply);
      },
    };
    const projector = createProjector({ store: s.store, readStore: flaky, batchSize: 3 });
    await projector.start();
    await s.run(request({ params: { image: 'v1' } }));
    await projector.waitFor(await s.store.headPosition());

    failNext = true;
    await s.run(request({ params: { image: 'v2' } }));
    await expect(projector.waitFor(await s.store.headPosition())).rejects.toThrow('disk full');
    // Later events are not applied over the hole either.
    await s.run(request({ params: { image: 'v3' } }));
    expect(await projector.lag()).toBeGreaterThan(0n);
    expect(await inner.operation('op-000002')).toBeUndefined();

    await projector.start();
    await projector.waitFor(await s.store.headPosition());
    await projector.stop();
    expect(await projector.lag()).toBe(0n);
    const rebuilt = createInMemoryReadStore();
    await createProjector({ store: s.store, readStore: rebuilt }).catchUp();
    expect(await dumpReadStore(inner, ['production'])).toEqual(
      await dumpReadStore(rebuilt, ['production']),
    );
  });

  it('stops on an unreadable stored event instead of skipping it', async () => {
    const s = projectionSetup();
    await s.projector.start();
    await s.run(request({ params: { image: 'v1' } }));
    await s.store.append('operation-op-000001', [
      { type: 'StepStarted', version: 1, data: { nope: 1 } },
    ]);
    const error = await s.projector.waitFor(await s.store.headPosition()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoredEventError);
    expect((error as Error).message).toContain("stream 'operation-op-000001'");
    expect(await s.projector.lag()).toBeGreaterThanOrEqual(1n);
    await s.projector.stop();
  });
});
