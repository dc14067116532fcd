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

  it('draws the five charts, each with a title, axis labels and its numbers in a table', async () => {
    const page = await call(base, '/environments/production/metrics');
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("style-src 'self'");
    const svgs = page.text.match(/<svg role="img"/g) ?? [];
    expect(svgs).toHaveLength(5);
    for (const id of [
      'deploys-per-week',
      'lead-time',
      'lead-time-per-week',
      'change-failure-rate',
      'time-to-restore',
    ]) {
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
    expect(page.text).toContain('<title>W10, failed: 1</title>'); // A week without deploys has no rate (a gap, '–'), not 0%.
    expect(page.text).toMatch(
      /<caption>Change failure rate per week<\/caption>[\s\S]*?<th scope="row">W09<\/th><td>–<\/td>/,
    );
  });

  it('charts lead time per operation type week by week, p50 and p95, with its table', async () => {
    const page = await call(base, '/environments/production/metrics');
    const figure = /<figure class="chart" id="lead-time-per-week">[\s\S]*?<\/figure>/.exec(
      page.text,
    )?.[0];
    expect(figure).toBeDefined();
    expect(figure).toContain(
      '<title id="lead-time-per-week-title">Lead time per operation type, week by week (p50 and p95)</title>',
    );
    expect(figure).toContain(
      '<th scope="col">app.deploy p50</th><th scope="col">app.deploy p95</th>',
    );
    // W10: web's deploys took 4, 10 and 2 minutes: nearest-rank p50 4, p95 10. W11: api's 6.
    expect(figure).toContain('<tr><th scope="row">W10</th><td>4</td><td>10</td></tr>');
    expect(figure).toContain('<tr><th scope="row">W11</th><td>6</td><td>6</td></tr>');
    expect(figure).toContain('<tr><th scope="row">W09</th><td>–</td><td>–</td></tr>');
    // A point per week with a value, named; a line through consecutive weeks; p95 dashed.
    expect(figure).toContain('<title>W10, app.deploy p95: 10</title></circle>');
    expect(figure?.match(/<circle /g)).toHaveLength(4);
    expect(figure?.match(/<polyline [^>]*stroke-dasharray="5 3"/g)).toHaveLength(1);
    expect(figure?.match(/<polyline /g)).toHaveLength(2);
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

  it("links the environment's Metrics from every page about it, and an app's from its pages", async () => {
    const operations = await call(base, '/api/environments/production/operations');
    const [op] = operations.json<{ items: { id: string; resource: { handle: string } }[] }>().items;
    const nav = (html: string) =>
      /<nav id="section-nav" class="tabs" aria-label="production">[\s\S]*?<\/nav>/.exec(html)?.[0];
    const pages: [string, string | undefined, string | undefined][] = [
      ['/environments/production', undefined, 'overview'],
      ['/environments/production/activity', undefined, 'activity'],
      ['/environments/production/activity-reports', undefined, 'reports'],
      ['/environments/production/metrics', undefined, 'metrics'],
      ['/environments/production/metrics?app=web', 'web', 'app-metrics'],
      ['/environments/production/apps/web', 'web', undefined],
      [`/operations/${op?.id}`, op?.resource.handle, undefined],
    ];
    for (const [url, app, current] of pages) {
      const page = await call(base, url);
      expect(page.status, url).toBe(200);
      const links = nav(page.text);
      expect(links, url).toContain('<a id="nav-metrics" href="/environments/production/metrics"');
      if (app) {
        expect(links, url).toContain(
          `<a id="nav-app-metrics" href="/environments/production/metrics?app=${app}"`,
        );
      } else {
        expect(links, url).not.toContain('nav-app-metrics');
      }
      const marked = links?.match(/id="nav-([a-z-]+)"[^>]*aria-current="page"/g) ?? [];
      expect(marked, url).toEqual(current ? [expect.stringContaining(`nav-${current}"`)] : []);
    }
    // Not on the pages above any environment.
    expect(nav((await call(base, '/')).text)).toBeUndefined();
  });
});
