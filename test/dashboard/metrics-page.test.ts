import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/server.js';
import { DEFAULT_ACTOR_HEADER } from '../../src/dashboard/index.js';
import {
  createEngine,
  createInMemoryEventStore,
  createInMemoryReadStore,
  defineOperation,
  step,
} from '../../src/index.js';
import { createProjector } from '../../src/projections/index.js';
import { createVirtualClock } from '../../src/testing/index.js';
import { call } from './http-client.js';

const MIN = 60_000;

/** The Metrics page: SVG charts drawn on the server, each with its title, axes and numbers. */
describe('the dashboard Metrics page', () => {
  const store = createInMemoryEventStore();
  const readStore = createInMemoryReadStore();
  const projector = createProjector({ store, readStore });
  const clock = createVirtualClock('2026-03-02T09:00:00.000Z');
  let dashboard: DashboardServer;
  let base: string;

  beforeAll(async () => {
    const deploy = defineOperation<{ minutes: number; fail?: boolean }>({
      type: 'app.deploy',
      steps: [
        step({
          name: 'health check',
          kind: 'no_side_effects',
          run: ({ params }) => {
            clock.advance(params.minutes * MIN);
            if (params.fail) throw new Error('unhealthy');
          },
        }),
      ],
    });
    const engine = createEngine({ store, clock, operations: [deploy] });
    const run = async (handle: string, params: { minutes: number; fail?: boolean }) =>
      (
        await engine.start({
          type: 'app.deploy',
          environment: 'production',
          resource: { type: 'app', handle },
          user: 'ada@example.com',
          params,
        })
      ).result;
    await run('web', { minutes: 4 });
    await run('web', { minutes: 10, fail: true });
    await run('web', { minutes: 2 }); // restores web 2 minutes after the failure
    clock.advance(7 * 24 * 60 * MIN); // the next week
    await run('api', { minutes: 6 });
    dashboard = createDashboardServer({
      store,
      readStore,
      clock,
      catchUp: () => projector.catchUp().then(() => undefined),
      authorize: (actor, _action, target) =>
        !(actor === 'intruder' && target.environment !== 'staging'),
    });
    base = await dashboard.listen(0);
  });
  afterAll(() => dashboard.close());

  it('draws the four charts, each with a title, axis labels and its numbers in a table', async () => {
    const page = await call(base, '/environments/production/metrics');
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("style-src 'self'");
    const svgs = page.text.match(/<svg role="img"/g) ?? [];
    expect(svgs).toHaveLength(4);
    for (const id of ['deploys-per-week', 'lead-time', 'change-failure-rate', 'time-to-restore']) {
      expect(page.text).toContain(`<figure class="chart" id="${id}">`);
      expect(page.text).toContain(`aria-labelledby="${id}-title"`);
    }
    expect(page.text).toContain(
      '<title id="deploys-per-week-title">Deploys per week, by outcome</title>',
    );
    expect(page.text).toContain('class="x-label"');
    expect(page.text).toContain('>percent of deploys</text>');
    // The numbers: week 10 had 2 succeeded deploys and 1 failed; week 11 one succeeded.
    expect(page.text).toMatch(
      /<caption>Deploys per week, by outcome<\/caption>[\s\S]*?<tr><th scope="row">W10<\/th><td>2<\/td><td>1<\/td><\/tr>\s*<tr><th scope="row">W11<\/th><td>1<\/td><td>0<\/td><\/tr>/,
    );
    expect(page.text).toMatch(/<th scope="row">W10<\/th><td>33%<\/td>/);
    expect(page.text).toMatch(
      /<th scope="row">W10<\/th><td>2<\/td><\/tr>[\s\S]*<\/table>\s*<\/figure>\s*$/m,
    );
    // Bars: a rect per category and series, each named.
    expect(page.text).toContain('<title>W10, failed: 1</title>');
  });

  it('narrows to one app, asks authorize, and refuses an unknown query', async () => {
    const api = await call(base, '/environments/production/metrics?app=api');
    expect(api.status).toBe(200);
    expect(api.text).toContain('Delivery metrics of <code>api</code>');
    expect(api.text).toMatch(/<th scope="row">W10<\/th><td>0<\/td><td>0<\/td><\/tr>/);
    const denied = await call(base, '/environments/production/metrics', {
      headers: { [DEFAULT_ACTOR_HEADER]: 'intruder' },
    });
    expect(denied.status).toBe(403);
    expect((await call(base, '/environments/production/metrics?week=1')).status).toBe(400);
  });

  it('answers the metrics as JSON and as CSV for any range, the page linking its CSV', async () => {
    const range = 'from=2026-03-02&to=2026-03-09';
    const json = await call(base, `/api/environments/production/metrics?${range}&app=web`);
    expect(json.status).toBe(200);
    expect(json.json()).toMatchObject({
      environment: 'production',
      app: 'web',
      changeFailureRate: { deploys: 3, failed: 1 },
      timeToRestore: { restored: 1, p50Ms: 2 * MIN },
    });
    const csv = await call(base, `/api/environments/production/metrics.csv?${range}`);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toContain('metrics-production.csv');
    expect(csv.text.split('\r\n')[0]).toBe('metric,about,value');
    expect(csv.text).toContain('\r\ndeploys,,2\r\n');
    expect((await call(base, '/api/environments/production/metrics?from=2026-03-02')).status).toBe(
      400,
    );
    const denied = await call(base, `/api/environments/production/metrics?${range}`, {
      headers: { [DEFAULT_ACTOR_HEADER]: 'intruder' },
    });
    expect(denied.status).toBe(403);
    const page = await call(base, '/environments/production/metrics?app=web');
    expect(page.text).toMatch(
      /id="metrics-csv" class="csv" href="\/api\/environments\/production\/metrics\.csv\?from=[^"]+&amp;to=[^"]+&amp;app=web"/,
    );
  });

  it('is linked from the environment page', async () => {
    const env = await call(base, '/environments/production');
    expect(env.text).toContain('href="/environments/production/metrics"');
  });
});
