import { describe, expect, it } from 'vitest';
import { createInMemoryEventStore, StoredEventError } from '../../src/index.js';
import { request } from '../support/fixtures.js';
import { projectionSetup } from '../support/projections.js';

/** docs/concepts.md says where events are validated; these are its claims, one by one. */
describe('where events are validated (docs/concepts.md)', () => {
  it('the store port takes and returns an unknown type or data off its schema without error', async () => {
    const store = createInMemoryEventStore();
    await store.append('operation-op-000001', [
      { type: 'NoSuchEvent', version: 1, data: {} },
      { type: 'StepStarted', version: 1, data: { nope: 1 } },
      { type: 'StepStarted', version: 99, data: {} },
    ]);
    const read = await store.readStream('operation-op-000001');
    expect(read.map((e) => [e.type, e.version])).toEqual([
      ['NoSuchEvent', 1],
      ['StepStarted', 1],
      ['StepStarted', 99],
    ]);
    expect(await store.readAll()).toHaveLength(3);
  });

  it('the engine and the projector decode what they read, and raise StoredEventError', async () => {
    const s = projectionSetup();
    await s.run(request({ params: { image: 'v1' } }));
    await s.store.append('operation-op-000001', [
      { type: 'StepStarted', version: 1, data: { nope: 1 } },
    ]);
    await expect(s.engine.getOperation('op-000001')).rejects.toBeInstanceOf(StoredEventError);
    await expect(s.projector.catchUp()).rejects.toBeInstanceOf(StoredEventError);
  });
});
