import { afterEach, describe, expect, it } from 'vitest';
import { createInMemoryReadStore } from '../../src/index.js';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/index.js';
import { createProjector } from '../../src/projections/index.js';
import { request } from '../support/fixtures.js';
import { faultyEventStore, faultyReadStore, switchable } from '../support/faulty-stores.js';
import { projectionSetup } from '../support/projections.js';
import { call } from './http-client.js';

let dashboard: DashboardServer | undefined;
afterEach(async () => {
  await dashboard?.close();
  dashboard = undefined;
});

/** A dashboard over stores whose outages the test switches on and off. */
const setUp = async () => {
  const s = projectionSetup();
  await s.run(request());
  const events = switchable();
  const reads = switchable();
  const store = faultyEventStore(s.store, events);
  const readStore = faultyReadStore(createInMemoryReadStore(), reads);
  const projector = createProjector({ store, readStore, storeOutage: { maxMs: 0 } });
  dashboard = createDashboardServer({ store, readStore, catchUp: () => projector.catchUp() });
  return { base: await dashboard.listen(0), events, reads, s };
};

describe('the dashboard while a store is away', () => {
  it.each(['event store', 'read store'] as const)(
    'answers 503 with Retry-After while the %s refuses connections, 200 once it is back',
    async (which) => {
      const { base, events, reads } = await setUp();
      const path = '/api/environments/production/operations';
      expect((await call(base, path)).status).toBe(200);
      (which === 'event store' ? events : reads).down = true;
      const down = await call(base, path);
      expect(down.status).toBe(503);
      expect(down.headers['retry-after']).toBe('5');
      expect(down.json()).toMatchObject({
        error: {
          code: 'STORE_UNAVAILABLE',
          message: expect.stringContaining(
            `faulty:5432/${which === 'event store' ? 'events' : 'reads'}`,
          ),
        },
      });
      const page = await call(base, '/', { headers: { accept: 'text/html' } });
      expect(page.status).toBe(503);
      expect(page.headers['retry-after']).toBe('5');
      expect(page.text).toContain('STORE_UNAVAILABLE');
      (which === 'event store' ? events : reads).down = false;
      const back = await call(base, path);
      expect(back.status).toBe(200);
      expect(back.json<{ total: number }>().total).toBe(1);
    },
  );

  it('answers the live log and a cancel with 503 at once rather than waiting', async () => {
    const { base, events, s } = await setUp();
    const id = (await s.engine.start(request({ type: 'restart' }))).id;
    events.down = true;
    expect((await call(base, `/api/operations/${id}/events`)).status).toBe(503);
    const cancel = await call(base, `/api/operations/${id}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'ada@example.com' }),
    });
    expect(cancel.status).toBe(503);
    events.down = false;
    s.release();
  });
});
