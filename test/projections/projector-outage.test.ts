import { describe, expect, it } from 'vitest';
import { createInMemoryReadStore, StoreUnavailableError, type ReadStore } from '../../src/index.js';
import { createProjector } from '../../src/projections/index.js';
import { request } from '../support/fixtures.js';
import { faultyEventStore, faultyReadStore, switchable } from '../support/faulty-stores.js';
import { projectionSetup } from '../support/projections.js';
import { dumpReadStore } from '../support/read-store-dump.js';

const quickly = { backoff: { initialDelayMs: 1, maxDelayMs: 5 } };

describe('a projector past its outage budget', () => {
  it.each(['event store', 'read store'] as const)(
    'fails with StoreUnavailableError naming the %s, and resumes from its checkpoint',
    async (which) => {
      const s = projectionSetup();
      await s.run(request({ params: { image: 'v1' } }));
      const events = switchable();
      const reads = switchable();
      const inner = createInMemoryReadStore();
      const options = {
        store: faultyEventStore(s.store, events),
        readStore: faultyReadStore(inner, reads),
      };
      await createProjector(options).catchUp();
      const checkpoint = await inner.checkpoint('operations');
      await s.run(request({ params: { image: 'v2' } }));
      (which === 'event store' ? events : reads).down = true;
      const error = await createProjector({ ...options, storeOutage: { maxMs: 50, ...quickly } })
        .catchUp()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      const e = error as StoreUnavailableError;
      expect(e.store).toBe(which);
      expect(e.unreachableMs).toBeGreaterThanOrEqual(50);
      expect(e.message).toContain(`The ${which} at faulty:5432/`);
      expect(e.message).toContain('start() or catchUp() the projector');
      expect(await inner.checkpoint('operations')).toBe(checkpoint);

      (which === 'event store' ? events : reads).down = false;
      expect(await createProjector(options).catchUp()).toBe(await s.store.headPosition());
      const rebuilt = createInMemoryReadStore();
      await createProjector({ store: s.store, readStore: rebuilt }).catchUp();
      expect(await dumpReadStore(inner, ['production'])).toEqual(
        await dumpReadStore(rebuilt, ['production']),
      );
    },
  );

  it('never retries an error that is not transient', async () => {
    const s = projectionSetup();
    await s.run(request());
    const inner = createInMemoryReadStore();
    let calls = 0;
    const full: ReadStore = {
      ...faultyReadStore(inner, switchable()),
      transaction: async () => {
        calls += 1;
        throw Object.assign(new Error('disk full'), { code: 'SQLITE_FULL' });
      },
    };
    const projector = createProjector({ store: s.store, readStore: full, storeOutage: quickly });
    await expect(projector.catchUp()).rejects.toThrow('disk full');
    expect(calls).toBe(1);
  });
});
