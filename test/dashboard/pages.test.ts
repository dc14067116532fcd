import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/server.js';
import {
  createClient,
  createWorker,
  createEngine,
  createInMemoryEventStore,
  createInMemoryReadStore,
  defineOperation,
  step,
  type OperationResult,
} from '../../src/index.js';
import { createProjector } from '../../src/projections/index.js';
import { call, type Answer } from './http-client.js';

/**
 * The HTML pages over real HTTP, on in-memory stores filled by an engine: what each page shows,
 * escaping, paging and filters, `authorize`, and bad input. The browser tests
 * (browser.test.ts) drive the same pages in Chromium on a store filled by the demo.
 */
describe('the dashboard pages', () => {
  const store = createInMemoryEventStore();
  const readStore = createInMemoryReadStore();
  const projector = createProjector({ store, readStore });
  let releaseGate!: () => void;
  const gate = new Promise<void>((resolve) => (releaseGate = resolve));
  let releaseUndo!: () => void;
  const undoGate = new Promise<void>((resolve) => (releaseUndo = resolve));
  const HOSTILE = '<img src=x onerror="alert(1)">';
  const restart = defineOperation({
    type: 'app.restart',
    steps: [
      step({
        name: 'restart',
        kind: 'no_side_effects',
        run: ({ log }) => log(`restarted; the app said ${HOSTILE}`),
      }),
    ],
  });
  const engine = createEngine({
    store,
    operations: [
      defineOperation({
        type: 'app.provision',
        lifecycle: 'provision',
        steps: [step({ name: 'create', kind: 'no_side_effects', run: () => undefined })],
      }),
      defineOperation({
        type: 'app.deprovision',
        lifecycle: 'deprovision',
        steps: [step({ name: 'delete', kind: 'no_side_effects', run: () => undefined })],
      }),
      restart,
      defineOperation({
        type: 'app.deploy',
        steps: [
          step({ name: 'start containers', run: () => ({ id: 'c1' }), undo: () => undefined }),
          step({
            name: 'health check',
            kind: 'no_side_effects',
            run: () => {
              throw new Error('the new containers never answered');
            },
          }),
        ],
      }),
      defineOperation({
        // Fails at its second step, then blocks in the undo of its first: it stays rolling back.
        type: 'app.scale',
        steps: [
          step({ name: 'add containers', run: () => ({ n: 2 }), undo: () => undoGate }),
          step({
            name: 'register',
            kind: 'no_side_effects',
            run: () => {
              throw new Error('the endpoint refused the new targets');
            },
          }),
        ],
      }),
      defineOperation({
        type: 'database.redeploy',
        steps: [step({ name: 'wait', kind: 'no_side_effects', run: () => gate })],
      }),
    ],
  });
  let dashboard: DashboardServer;
  let base: string;
  let failedDeploy: OperationResult;
  let hostileRestart: string;
  let workerRun: string;
  let running: string;
  let runningResult: Promise<OperationResult>;
  let rollingBack: string;
  let rollingBackResult: Promise<OperationResult>;

  const start = async (type: string, environment: string, resource: [string, string]) =>
    engine.start({
      type,
      environment,
      resource: { type: resource[0], handle: resource[1] },
      user: 'ada@example.com',
    });
  const finish = async (type: string, environment: string, resource: [string, string]) =>
    (await start(type, environment, resource)).result;
  const get = (path: string, actor?: string) =>
    call(base, path, actor ? { headers: { 'x-opledger-user': actor } } : {});
  /** The text of the page's <main>, tags dropped, for assertions on what a reader sees. */
  const mainOf = (answer: Answer) => answer.text.slice(answer.text.indexOf('<main>'));
  const rowIds = (answer: Answer) =>
    [...answer.text.matchAll(/<tr data-operation-id="([^"]+)"/g)].map((m) => m[1]);

  beforeAll(async () => {
    await finish('app.provision', 'prod', ['app', 'web']);
    await finish('app.provision', 'prod', ['database', 'main']);
    await finish('app.provision', 'prod', ['app', 'old']);
    await finish('app.deprovision', 'prod', ['app', 'old']);
    failedDeploy = await finish('app.deploy', 'prod', ['app', 'web']);
    hostileRestart = (await finish('app.restart', 'prod', ['app', 'web'])).id;
    // 25 operations in staging, for paging.
    for (let i = 0; i < 25; i++) await finish('app.restart', 'staging', ['app', 'api']);
    const started = await start('database.redeploy', 'prod', ['database', 'main']);
    running = started.id;
    runningResult = started.result;
    const scaling = await start('app.scale', 'prod', ['app', 'web']);
    rollingBack = scaling.id;
    rollingBackResult = scaling.result;
    // One run by a worker, for the page's 'Run by'.
    const worker = await createWorker({
      store,
      operations: [restart],
      identity: 'w-dash',
      lease: { ttlMs: 3_000, renewEveryMs: 1_000 },
    });
    const byWorker = await createClient({ store, operations: [restart] }).start({
      type: 'app.restart',
      environment: 'workers',
      resource: { type: 'app', handle: 'worker-run' },
      user: 'ada@example.com',
    });
    workerRun = byWorker.id;
    await byWorker.result;
    await worker.shutdown();
    await projector.start();
    dashboard = createDashboardServer({
      store,
      readStore,
      // The projector runs live: wait for it to have applied everything before each read.
      catchUp: () => projector.catchUp(),
      // 'intruder' may see staging only: prod and any other name (existing or not) are refused.
      authorize: (actor, _action, target) =>
        !(actor === 'intruder' && target.environment !== 'staging'),
    });
    base = await dashboard.listen(0);
  });

  afterAll(async () => {
    releaseGate();
    releaseUndo();
    await Promise.all([runningResult, rollingBackResult]);
    await dashboard?.close();
    await projector.stop();
  });

  it('lists the environments with their apps and databases, deleted ones marked', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.text).toContain('<section class="environment" data-environment="prod">');
    expect(page.text).toContain('<a href="/environments/prod/apps/web">web</a>');
    expect(page.text).toContain('<a href="/environments/prod/databases/main">main</a>');
    expect(page.text).toMatch(
      /<li data-resource="app:old"><a href="\/environments\/prod\/apps\/old">old<\/a> <span class="badge deleted">deleted<\/span><\/li>/,
    );
    expect(page.text).not.toMatch(/data-resource="app:web">[^\n]*deleted/);
  });

  it('sends a content security policy that allows only its own script and styles', async () => {
    const page = await get('/');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    const script = await get('/assets/dashboard.js');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.text).toContain("new EventSource(apiPath('/events'))");
    expect((await get('/assets/dashboard.css')).status).toBe(200);
    expect((await get('/assets/..%2Fserver.js')).status).toBe(404);
  });

  it('answers 404 for an asset named after an Object.prototype property', async () => {
    for (const name of Object.getOwnPropertyNames(Object.prototype)) {
      const answer = await get(`/assets/${name}`);
      expect([name, answer.status]).toEqual([name, 404]);
      expect(answer.text).toContain(`There is no asset '${name}'.`);
    }
  });

  it('escapes what users wrote: a log line with markup shows as text', async () => {
    const page = await get(`/operations/${hostileRestart}`);
    expect(page.status).toBe(200);
    expect(page.text).not.toContain(HOSTILE);
    expect(page.text).toContain('the app said &lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
  });

  it('shows a finished operation with its verdict, and no cancel button', async () => {
    const page = await get(`/operations/${failedDeploy.id}`);
    expect(page.text).toContain('<dd id="status" data-status="failed">failed</dd>');
    expect(page.text).toContain('<dd id="rollback" data-rollback="succeeded">rolled back</dd>');
    const verdict = /<p id="verdict"[^>]*>([^<]*)<\/p>/.exec(page.text)?.[1];
    expect(verdict).toBe(failedDeploy.summary.replace(/'/g, '&#39;'));
    expect(verdict).toContain('Rollback succeeded');
    expect(page.text).toContain('data-live="off"');
    expect(page.text).not.toContain('id="cancel-form"');
    // Every line of the log, as the CLI prints them.
    const log = await get(`/api/operations/${failedDeploy.id}/log.txt`);
    const lines = [
      ...page.text.matchAll(/<span class="line[^"]*" data-revision="\d+">([^<]*)<\/span>/g),
    ]
      .map((m) =>
        m[1]!
          .replace(/&#39;/g, "'")
          .replace(/&quot;/g, '"')
          .replace(/&amp;/g, '&'),
      )
      .join('');
    expect(lines).toBe(log.text);
  });

  it('says who ran an operation: a worker with its fence, or the process that started it', async () => {
    const page = await get(`/operations/${workerRun}`);
    expect(page.text).toContain('<dd id="worker">w-dash <small>(fence 1)</small></dd>');
    expect(page.text).toContain('Claimed by worker w-dash');
    const byEngine = await get(`/operations/${failedDeploy.id}`);
    expect(byEngine.text).toContain(
      '<dd id="worker"><small>the process that started it</small></dd>',
    );
  });

  it('offers a running operation its live log and a cancel button', async () => {
    const page = await get(`/operations/${running}`);
    expect(page.text).toContain('<dd id="status" data-status="running">running</dd>');
    expect(page.text).toContain('data-live="pending"');
    // Hidden until the script shows it: without the script it could not cancel anything.
    expect(page.text).toContain('<form id="cancel-form" hidden>');
    expect(page.text).toContain('<p id="verdict" class="verdict" aria-live="polite"></p>');
  });

  it('follows an operation that has failed but is still rolling back, with no verdict yet', async () => {
    await expect
      .poll(
        async () =>
          (await get(`/api/operations/${rollingBack}`)).json<{ rollback: string }>().rollback,
      )
      .toBe('in_progress');
    const page = await get(`/operations/${rollingBack}`);
    expect(page.text).toContain('<dd id="status" data-status="failed">failed</dd>');
    expect(page.text).toContain('<dd id="rollback" data-rollback="in_progress">rolling back</dd>');
    expect(page.text).toContain('data-live="pending"');
    expect(page.text).toContain('<p id="verdict" class="verdict" aria-live="polite"></p>');
    // Nothing left to cancel: it has failed already.
    expect(page.text).not.toContain('id="cancel-form"');
  });

  it('pages the Activity newest first, 20 at a time, with links both ways', async () => {
    const first = await get('/environments/staging/activity');
    expect(first.status).toBe(200);
    const firstIds = rowIds(first);
    expect(firstIds).toHaveLength(20);
    expect(first.text).toContain('Operations 1–20 of 25, newest first');
    expect(first.text).toContain('<a rel="next" href="/environments/staging/activity?offset=20">');
    expect(first.text).not.toContain('rel="prev"');
    const second = await get('/environments/staging/activity?offset=20');
    const secondIds = rowIds(second);
    expect(secondIds).toHaveLength(5);
    expect(second.text).toContain('<a rel="prev" href="/environments/staging/activity">');
    expect(second.text).not.toContain('rel="next"');
    expect(new Set([...firstIds, ...secondIds]).size).toBe(25);
    // Past the end: said so, with a way back to the last page rather than 500 empty ones.
    const past = await get('/environments/staging/activity?offset=100');
    expect(rowIds(past)).toEqual([]);
    expect(past.text).toContain('Past the last page: 25 operations in all.');
    expect(past.text).toContain('<a rel="prev" href="/environments/staging/activity?offset=20">');
    // Newest first: the API's order, which the API tests check against the creation times.
    const api = await get('/api/environments/staging/operations?limit=25');
    expect([...firstIds, ...secondIds]).toEqual(
      api.json<{ items: { id: string }[] }>().items.map((o) => o.id),
    );
  });

  it('filters the Activity by status, type and resource; empty fields mean any', async () => {
    const failed = await get('/environments/prod/activity?status=failed&type=');
    expect(rowIds(failed)).toEqual([rollingBack, failedDeploy.id]);
    expect(failed.text).toContain('<option value="failed" selected>failed</option>');
    const restarts = await get('/environments/prod/activity?type=app.restart');
    expect(rowIds(restarts)).toEqual([hostileRestart]);
    const web = await get('/environments/prod/activity?resource=app%3Aweb');
    expect(web.text).toContain('Activity of <code>app:web</code>');
    expect(rowIds(web)).toHaveLength(4); // provision, deploy, restart, scale
    expect(web.text).toContain('<input type="hidden" name="resource" value="app:web">');
    const none = await get('/environments/prod/activity?type=app.configure');
    expect(none.text).toContain('<p class="empty">No operations match.</p>');
  });

  it('links environment -> app -> Activity -> operation', async () => {
    const env = await get('/environments/prod');
    expect(env.text).toContain(
      '<a id="activity-link" class="button" href="/environments/prod/activity">',
    );
    expect(env.text).toContain('href="/environments/prod/activity-reports"');
    const app = await get('/environments/prod/apps/web');
    expect(app.status).toBe(200);
    expect(app.text).toContain('href="/environments/prod/activity?resource=app%3Aweb"');
    expect(app.text).toContain(`<a href="/operations/${hostileRestart}">app.restart</a>`);
    // As in the seed's dashboard: each operation of the Activity has a download icon for its log.
    expect(app.text).toContain(
      `<a class="download-log" href="/api/operations/${hostileRestart}/log.txt" download`,
    );
    const database = await get('/environments/prod/databases/main');
    expect(database.status).toBe(200);
    expect(mainOf(database)).toContain('Database main');
  });

  it('lists the weekly Activity Reports with their CSV links and a custom range form', async () => {
    const page = await get('/environments/staging/activity-reports');
    const weeks = (await get('/api/environments/staging/activity-reports')).json<
      { week: string; operations: number }[]
    >();
    expect(weeks.length).toBeGreaterThan(0);
    for (const w of weeks) {
      expect(page.text).toContain(`<tr data-week="${w.week}">`);
      expect(page.text).toContain(
        `<a class="csv" href="/api/environments/staging/activity-reports/${w.week}.csv" download>`,
      );
      expect(page.text).toContain(`<td>${w.operations}</td>`);
    }
    expect(page.text).toContain(
      '<form id="custom-range" method="get" action="/api/environments/staging/activity-report.csv">',
    );
  });

  it('gives an actor that may not see an environment the same 403 as for one that is not', async () => {
    const envs = await get('/', 'intruder');
    expect(envs.text).not.toContain('data-environment="prod"');
    expect(envs.text).toContain('data-environment="staging"');
    const denied = await get('/environments/prod/activity', 'intruder');
    const missing = await get('/environments/nowhere/activity', 'intruder');
    expect(denied.status).toBe(403);
    expect(missing.status).toBe(403);
    expect(denied.text.replaceAll('prod', 'ENV')).toBe(missing.text.replaceAll('nowhere', 'ENV'));
    expect(denied.text).toContain('data-code="ACCESS_DENIED"');
    for (const path of [
      '/environments/prod',
      '/environments/prod/apps/web',
      '/environments/prod/activity-reports',
      `/operations/${failedDeploy.id}`,
    ]) {
      const answer = await get(path, 'intruder');
      expect(answer.status, path).toBe(403);
      expect(answer.text, path).not.toContain('app.deploy');
    }
  });

  it('answers bad input with a 4xx page that says what was wrong', async () => {
    const cases: [string, number, string][] = [
      ['/environments/prod/activity?limit=100000', 400, 'limit: must be from 1 to 500'],
      ['/environments/prod/activity?status=done', 400, 'status: must be one of'],
      ['/environments/prod/activity?offset=-1', 400, 'offset: must be a whole number'],
      ['/environments/prod/activity?colour=red', 400, 'colour'],
      ['/operations/nope', 404, 'Operation nope does not exist'],
      ['/environments/nowhere', 404, 'Environment &#39;nowhere&#39; does not exist'],
      [
        '/environments/prod/apps/ghost',
        404,
        'Environment &#39;prod&#39; has no app &#39;ghost&#39;',
      ],
      ['/environments/prod/volumes/x', 404, 'Nothing is served at'],
      ['/environments/%E0%A4%A', 400, 'not valid percent-encoding'],
      ['/?x=1', 400, 'x'],
      // The page's form has no range: it would drop one on its next submit.
      ['/environments/prod/activity?from=2026-01-01', 400, 'from'],
      ['/environments/prod/activity?offset=1&offset=2', 400, 'offset'],
    ];
    for (const [path, status, message] of cases) {
      const answer = await get(path);
      expect(answer.status, path).toBe(status);
      expect(answer.headers['content-type'], path).toBe('text/html; charset=utf-8');
      expect(answer.text, path).toMatch(/<p id="error" class="error" data-code="[A-Z_]+">/);
      expect(answer.text, path).toContain(message);
    }
    // The server is still there.
    expect((await get('/')).status).toBe(200);
  });

  it('answers HEAD like GET without a body, but not on the events stream', async () => {
    const head = await call(base, '/environments/prod/activity', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(head.body.length).toBe(0);
    const events = await call(base, `/api/operations/${running}/events`, { method: 'HEAD' });
    expect(events.status).toBe(405);
    expect((await call(base, '/favicon.ico')).status).toBe(204);
  });

  it('shows a browser that navigated to a failing API link an error page, a script JSON', async () => {
    const range = '/api/environments/prod/activity-report.csv?from=2026-02-01&to=2026-01-01';
    const navigated = await call(base, range, { headers: { 'sec-fetch-dest': 'document' } });
    expect(navigated.status).toBe(400);
    expect(navigated.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(navigated.text).toContain('the range must end after it starts');
    const fetched = await call(base, range, { headers: { accept: 'application/json' } });
    expect(fetched.status).toBe(400);
    expect(fetched.json<{ error: { code: string } }>().error.code).toBe('INVALID_REQUEST');
    // And a script asking a page's path for JSON still gets an HTML page's status, as a page.
    const page = await call(base, '/operations/nope', { headers: { accept: 'text/html' } });
    expect(page.status).toBe(404);
    expect(page.text).toContain('data-code="OPERATION_NOT_FOUND"');
  });
});
