import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStoreSession, type StoreSession } from '../../src/cli/store-session.js';
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/server.js';
import type { ReadAction } from '../../src/index.js';
import { runCli, spawnCli, tempWorkdir, watchOutput } from '../cli/run-cli.js';
import { call, openEventStream, type Answer } from './http-client.js';

interface OperationJson {
  id: string;
  type: string;
  status: string;
  rollback: string;
  cancelled: boolean;
  environment: string;
  resource: { type: string; handle: string };
}

interface Page {
  items: OperationJson[];
  total: number;
  limit: number;
  offset: number;
  nextOffset?: number;
}

interface ErrorJson {
  error: { code: string; message: string };
}

/**
 * The dashboard's JSON API over real HTTP, on the default SQLite store of a folder filled by
 * the built CLI: the demo (environment demo), environment prod (an app, then a deploy that
 * runs while the tests watch it and cancel it), and environment preview, deprovisioned.
 */
describe('the dashboard JSON API', () => {
  const work = tempWorkdir('dashboard');
  const cli = (...args: string[]) => runCli(args, { cwd: work.dir });
  const storeUrl = `sqlite:${join(work.dir, '.opledger', 'opledger.db')}`;
  let session: StoreSession;
  let dashboard: DashboardServer;
  let base: string;
  const asked: { actor: unknown; action: ReadAction; environment: string }[] = [];
  const serverErrors: unknown[] = [];
  let demoOperations: OperationJson[];

  const get = (path: string, actor?: string) =>
    call(base, path, actor ? { headers: { 'x-opledger-user': actor } } : {});
  const errorOf = (answer: Answer) => answer.json<ErrorJson>().error;

  beforeAll(async () => {
    const steps = [
      // The demo's nine scenes alone: the counts below are theirs (its history is
      // test/cli/cli.test.ts's and the Metrics page's).
      ['demo', '--speed', 'max', '--no-history'],
      ['run', 'environment.provision', '--env', 'prod', '--resource', 'environment:prod'],
      ['run', 'app.provision', '--env', 'prod', '--resource', 'app:web'],
      ['run', 'environment.provision', '--env', 'preview', '--resource', 'environment:preview'],
      ['run', 'environment.deprovision', '--env', 'preview', '--resource', 'environment:preview'],
    ];
    for (const args of steps) {
      const run = await cli(...args, ...(args[0] === 'run' ? ['--speed', 'max'] : []));
      expect(run.code, `${args.join(' ')}\n${run.stderr}`).toBe(0);
    }
    demoOperations = (
      JSON.parse((await cli('operations', '--env', 'demo', '--json')).stdout) as Page
    ).items;
    session = await openStoreSession({ store: storeUrl });
    dashboard = createDashboardServer({
      session,
      // 'intruder' may see nothing of prod; 'boom' makes the hook itself fail.
      authorize: (actor, action, target) => {
        asked.push({ actor, action, environment: target.environment });
        if (actor === 'boom') throw new Error('the authorization service is down');
        return !(actor === 'intruder' && target.environment === 'prod');
      },
      onError: (error) => serverErrors.push(error),
    });
    base = await dashboard.listen(0);
  }, 120_000);

  afterAll(async () => {
    await dashboard?.close();
    await session?.close();
    work.remove();
  });

  it('serves on loopback, and lists its routes at /api', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const index = await get('/api');
    expect(index.status).toBe(200);
    expect(index.json<{ routes: string[] }>().routes).toContain('POST /api/operations/:id/cancel');
  });

  it('lists the environments with their apps and databases, deleted ones marked', async () => {
    const answer = await get('/api/environments');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    const envs = answer.json<
      {
        name: string;
        deleted: boolean;
        apps: { handle: string; deleted: boolean; status: string }[];
        databases: { handle: string; deleted: boolean }[];
      }[]
    >();
    expect(envs.map((e) => [e.name, e.deleted])).toEqual([
      ['demo', false],
      ['preview', true],
      ['prod', false],
    ]);
    const [demo, preview, prod] = envs;
    // The demo deprovisions its app at the end; its database stays.
    expect(demo?.apps.map((a) => [a.handle, a.deleted, a.status])).toEqual([
      ['web', true, 'deprovisioned'],
    ]);
    expect(demo?.databases.map((d) => [d.handle, d.deleted])).toEqual([['main', false]]);
    expect(preview?.apps).toEqual([]);
    expect(prod?.apps.map((a) => [a.handle, a.deleted])).toEqual([['web', false]]);
  });

  describe('operations of an environment', () => {
    it('answers what `opledger operations --json` prints, newest first', async () => {
      const answer = await get('/api/environments/demo/operations');
      expect(answer.status).toBe(200);
      const page = answer.json<Page>();
      expect(page.items).toEqual(demoOperations);
      expect(page).toMatchObject({ total: 9, limit: 50, offset: 0 });
      expect(page).not.toHaveProperty('nextOffset');
    });

    it('filters by status, type and resource (a deleted one too), and pages', async () => {
      const failed = (await get('/api/environments/demo/operations?status=failed')).json<Page>();
      expect(failed.items.map((o) => o.status)).toEqual(['failed', 'failed']);
      const deploys = (
        await get('/api/environments/demo/operations?type=app.deploy&status=succeeded')
      ).json<Page>();
      expect(deploys.items).toEqual(
        demoOperations.filter((o) => o.type === 'app.deploy' && o.status === 'succeeded'),
      );
      expect(deploys.total).toBe(2);
      const web = (await get('/api/environments/demo/operations?resource=app:web')).json<Page>();
      expect(web.total).toBe(6);
      expect(web.items.every((o) => o.resource.handle === 'web')).toBe(true);
      const env = (
        await get('/api/environments/demo/operations?resource=environment%3Ademo')
      ).json<Page>();
      expect(env.items.map((o) => o.type)).toEqual(['environment.provision']);
      const second = (await get('/api/environments/demo/operations?limit=2&offset=2')).json<Page>();
      expect(second.items).toEqual(demoOperations.slice(2, 4));
      expect(second.nextOffset).toBe(4);
      const last = (await get('/api/environments/demo/operations?limit=500&offset=8')).json<Page>();
      expect(last.items).toEqual(demoOperations.slice(8));
      expect(last).not.toHaveProperty('nextOffset');
    });

    it.each([
      ['limit=0', /limit: must be from 1 to 500/],
      ['limit=501', /limit: must be from 1 to 500/],
      ['limit=ten', /limit: must be a whole number/],
      ['limit=1.5', /limit: must be a whole number/],
      ['offset=-1', /offset: must be a whole number/],
      ['status=done', /status: must be one of queued, running, succeeded, failed/],
      ['resource=web', /resource: must be TYPE:HANDLE/],
      ['sort=asc', /Unrecognized key: "sort"/],
      ['limit=2&limit=3', /'limit' is given twice/],
      ['__proto__=1', /Unrecognized key: "__proto__"/],
      ['constructor=1', /Unrecognized key: "constructor"/],
      ['from=yesterday', /from 'yesterday' is not a date/],
    ])('refuses %s with a 400 that says what is wrong', async (query, message) => {
      const answer = await get(`/api/environments/demo/operations?${query}`);
      expect(answer.status).toBe(400);
      expect(errorOf(answer).code).toMatch(/^INVALID_(QUERY|REQUEST)$/);
      expect(errorOf(answer).message).toMatch(message);
    });

    it('is a 404 for an environment that never was, or was deprovisioned', async () => {
      for (const env of ['nowhere', 'preview']) {
        const answer = await get(`/api/environments/${env}/operations`);
        expect(answer.status).toBe(404);
        expect(errorOf(answer)).toMatchObject({ code: 'ENVIRONMENT_NOT_FOUND' });
        expect(errorOf(answer).message).toContain(`'${env}'`);
      }
    });
  });

  describe('one operation', () => {
    const failedDeploy = () => demoOperations.find((o) => o.rollback === 'failed') as OperationJson;
    const cancelled = () => demoOperations.find((o) => o.cancelled) as OperationJson;

    it('shows the operation with its rollback verdict, and its log as JSON', async () => {
      const op = failedDeploy();
      const view = await get(`/api/operations/${op.id}`);
      expect(view.status).toBe(200);
      expect(view.json()).toEqual(op);
      const log = await get(`/api/operations/${op.id}/log`);
      const cliJson = await cli('operation:logs', op.id, '--json');
      expect(log.json()).toEqual(JSON.parse(cliJson.stdout));
    });

    it('downloads the log as text, byte for byte what `opledger operation:logs` prints', async () => {
      for (const op of [failedDeploy(), cancelled(), ...demoOperations.slice(0, 2)]) {
        const text = await get(`/api/operations/${op.id}/log.txt`);
        expect(text.status).toBe(200);
        expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
        expect(text.headers['content-disposition']).toBe(
          `attachment; filename="operation-${op.id}.log"`,
        );
        const printed = await cli('operation:logs', op.id);
        expect(printed.code).toBe(0);
        expect(text.body.equals(Buffer.from(printed.stdout, 'utf8'))).toBe(true);
      }
      const verdict = (await get(`/api/operations/${failedDeploy().id}/log.txt`)).text;
      expect(verdict.trimEnd().split('\n').at(-1)).toMatch(
        /Rollback failed: these changes could not be undone: 'before_release' \(irreversible\)/,
      );
    });

    it('streams the log of an ended operation: every line, then the end with its result', async () => {
      const op = cancelled();
      const stream = await openEventStream(base, `/api/operations/${op.id}/events`);
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      await stream.closed;
      const lines = await get(`/api/operations/${op.id}/log`);
      const expected = lines.json<{ lines: { revision: number }[] }>().lines;
      const logs = stream.events.filter((e) => e.event === 'log');
      // Each line with its text as the CLI prints it.
      const text = (await get(`/api/operations/${op.id}/log.txt`)).text.trimEnd().split('\n');
      expect(logs.map((e) => JSON.parse(e.data) as unknown)).toEqual(
        expected.map((line, i) => ({ ...line, text: text[i] })),
      );
      expect(logs.map((e) => Number(e.id))).toEqual(expected.map((l) => l.revision));
      const end = stream.events.at(-1);
      expect(end?.event).toBe('end');
      expect(JSON.parse(end?.data ?? '{}')).toMatchObject({
        id: op.id,
        status: 'failed',
        cancelled: true,
        rollback: 'succeeded',
        summary: expect.stringMatching(/was cancelled by ada@example.com.*Rollback succeeded/),
      });
      // A reconnect with Last-Event-ID gets only what came after.
      const lastId = logs.at(-2)?.id as string;
      const again = await openEventStream(base, `/api/operations/${op.id}/events`, {
        'last-event-id': lastId,
      });
      await again.closed;
      expect(again.events.map((e) => e.event)).toEqual(['log', 'end']);
      // An empty Last-Event-ID is no line at all: the log comes from its first line.
      const empty = await openEventStream(base, `/api/operations/${op.id}/events`, {
        'last-event-id': '',
      });
      await empty.closed;
      expect(empty.events.filter((e) => e.event === 'log').map((e) => e.id)).toEqual(
        logs.map((e) => e.id),
      );
    });

    it.each(['', '/log', '/log.txt', '/events'])(
      'is a 404 for an unknown id: GET %s',
      async (p) => {
        const answer = await get(`/api/operations/nope${p}`);
        expect(answer.status).toBe(404);
        expect(errorOf(answer)).toEqual({
          code: 'OPERATION_NOT_FOUND',
          message: expect.stringMatching(/Operation nope does not exist/),
        });
      },
    );

    it('refuses to cancel an operation that has ended: 409', async () => {
      const answer = await call(base, `/api/operations/${cancelled().id}/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'bob@example.com' }),
      });
      expect(answer.status).toBe(409);
      expect(errorOf(answer)).toMatchObject({ code: 'OPERATION_ENDED' });
      const unknown = await call(base, '/api/operations/nope/cancel', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"user":"bob@example.com"}',
      });
      expect(unknown.status).toBe(404);
    });

    it.each([
      ['no JSON content type', { 'content-type': 'text/plain' }, '{"user":"bob"}', 415],
      ['a form', { 'content-type': 'application/x-www-form-urlencoded' }, 'user=bob', 415],
      ['broken JSON', { 'content-type': 'application/json' }, '{"user":', 400],
      ['an unknown field', { 'content-type': 'application/json' }, '{"who":"bob"}', 400],
      ['no user at all', { 'content-type': 'application/json' }, '', 400],
      ['a huge body', { 'content-type': 'application/json' }, `"${'x'.repeat(70_000)}"`, 413],
    ])('refuses a cancel with %s', async (_, headers, body, status) => {
      const answer = await call(base, `/api/operations/${cancelled().id}/cancel`, {
        method: 'POST',
        headers,
        body,
      });
      expect(answer.status).toBe(status);
      expect(errorOf(answer).message).not.toBe('');
    });
  });

  describe('activity reports', () => {
    it('lists the weekly reports as `opledger activity-reports --json` does, with posted', async () => {
      const answer = await get('/api/environments/demo/activity-reports');
      expect(answer.status).toBe(200);
      const reports = answer.json<{ week: string; to: string; posted: string | null }[]>();
      const printed = JSON.parse((await cli('activity-reports', '--env', 'demo', '--json')).stdout);
      expect(reports.map(({ posted: _, ...r }) => r)).toEqual(printed);
      const now = new Date().toISOString();
      for (const r of reports) expect(r.posted).toBe(r.to <= now ? r.to : null);
    });

    it('downloads a week and a custom range as CSV, byte for byte what the CLI prints', async () => {
      const [{ week } = { week: '' }] = (await get('/api/environments/demo/activity-reports')).json<
        { week: string }[]
      >();
      const csv = await get(`/api/environments/demo/activity-reports/${week}.csv`);
      expect(csv.status).toBe(200);
      expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(csv.headers['content-disposition']).toBe(
        `attachment; filename="activity-report-demo-${week}.csv"`,
      );
      const printed = await cli('activity-report', '--env', 'demo', '--week', week);
      expect(printed.code).toBe(0);
      expect(csv.body.equals(Buffer.from(printed.stdout, 'utf8'))).toBe(true);
      expect(csv.text.split('\r\n').length).toBeGreaterThan(2);

      const [from, to] = ['2020-01-01', '2100-01-01'];
      const range = await get(`/api/environments/demo/activity-report.csv?from=${from}&to=${to}`);
      expect(range.status).toBe(200);
      const rangePrinted = await cli(
        'activity-report',
        '--env',
        'demo',
        '--from',
        from,
        '--to',
        to,
      );
      expect(range.body.equals(Buffer.from(rangePrinted.stdout, 'utf8'))).toBe(true);
      // Every operation of the demo.
      expect(parse(range.text, { columns: true })).toHaveLength(9);
    });

    it.each([
      ['/activity-reports/2026-W60.csv', 'INVALID_WEEK', /not an ISO week/],
      ['/activity-reports/2026-10.csv', 'INVALID_WEEK', /YYYY-Www/],
      ['/activity-report.csv?from=2026-01-01', 'INVALID_QUERY', /to: is required/],
      ['/activity-report.csv', 'INVALID_QUERY', /from: is required/],
      ['/activity-report.csv?from=2026-03-05&to=2026-03-01', 'INVALID_REQUEST', /must end after/],
      ['/activity-report.csv?from=soon&to=2026-03-01', 'INVALID_REQUEST', /from 'soon'/],
      ['/activity-reports?week=2026-W01', 'INVALID_QUERY', /Unrecognized key/],
    ])('refuses a malformed week or range with a 400: %s', async (path, code, message) => {
      const answer = await get(`/api/environments/demo${path}`);
      expect(answer.status).toBe(400);
      expect(errorOf(answer).code).toBe(code);
      expect(errorOf(answer).message).toMatch(message);
    });

    it('is a 404 for an unknown or deprovisioned environment', async () => {
      expect((await get('/api/environments/nowhere/activity-reports')).status).toBe(404);
      expect((await get('/api/environments/preview/activity-reports/2026-W10.csv')).status).toBe(
        404,
      );
    });
  });

  describe('authorize', () => {
    const prodPaths = async () => {
      const prodOp = (await get('/api/environments/prod/operations')).json<Page>().items[0];
      return [
        '/api/environments/prod/operations',
        '/api/environments/prod/operations?status=failed&limit=5',
        '/api/environments/prod/activity-reports',
        '/api/environments/prod/activity-reports/2026-W10.csv',
        '/api/environments/prod/activity-report.csv?from=2026-01-01&to=2026-02-01',
        `/api/operations/${prodOp?.id}`,
        `/api/operations/${prodOp?.id}/log`,
        `/api/operations/${prodOp?.id}/log.txt`,
        `/api/operations/${prodOp?.id}/events`,
      ];
    };

    it('is asked with the actor of the x-opledger-user header', async () => {
      asked.length = 0;
      await get('/api/environments/demo/operations', 'ada@example.com');
      expect(asked).toContainEqual({
        actor: 'ada@example.com',
        action: 'operations:list',
        environment: 'demo',
      });
    });

    it('answers 403 to an actor that may not see an environment, naming nothing of it', async () => {
      for (const path of await prodPaths()) {
        const answer = await get(path, 'intruder');
        expect(answer.status, path).toBe(403);
        expect(errorOf(answer).code).toBe('ACCESS_DENIED');
        expect(answer.text).not.toMatch(/prod|web|deploy|provision/);
        // The same actor still sees the rest.
      }
      expect((await get('/api/environments/demo/operations', 'intruder')).status).toBe(200);
      const visible = (await get('/api/environments', 'intruder')).json<{ name: string }[]>();
      expect(visible.map((e) => e.name)).toEqual(['demo', 'preview']);
    });

    it('gives the same 403 whether the environment exists or not', async () => {
      // 'intruder' is refused prod; a name the hook refuses but that does not exist reads alike.
      const denyAll = createDashboardServer({ session, authorize: () => false });
      const other = await denyAll.listen(0);
      try {
        for (const suffix of [
          '/operations',
          '/activity-reports',
          '/activity-reports/2026-W10.csv',
          '/activity-report.csv?from=2026-01-01&to=2026-02-01',
        ]) {
          const existing = await call(other, `/api/environments/prod${suffix}`);
          const missing = await call(other, `/api/environments/nowhere${suffix}`);
          expect(existing.status).toBe(403);
          expect(missing.status).toBe(403);
          expect(missing.text).toBe(existing.text);
        }
        expect((await call(other, '/api/environments')).json()).toEqual([]);
      } finally {
        await denyAll.close();
      }
      const existing = await get('/api/environments/prod/operations', 'intruder');
      expect(existing.status).toBe(403);
    });

    it('refuses a cancel by an actor that may not see the environment', async () => {
      const [op] = (await get('/api/environments/prod/operations')).json<Page>().items;
      const answer = await call(base, `/api/operations/${op?.id}/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-opledger-user': 'intruder' },
        body: '{}',
      });
      expect(answer.status).toBe(403);
      expect(asked.at(-1)).toMatchObject({ actor: 'intruder', action: 'operation:cancel' });
    });
  });

  describe('bad requests and failures', () => {
    it('answers 404 for an unknown route and 405 for a wrong method', async () => {
      for (const path of ['/api/nothing', '/api/environments/demo', '/api/operations']) {
        const answer = await get(path);
        expect(answer.status, path).toBe(404);
        expect(errorOf(answer).code).toBe('NOT_FOUND');
      }
      const post = await call(base, '/api/environments', { method: 'POST' });
      expect(post.status).toBe(405);
      expect(post.headers.allow).toBe('GET');
      const del = await call(base, '/api/operations/x/cancel', { method: 'GET' });
      expect(del.status).toBe(405);
      expect(del.headers.allow).toBe('POST');
    });

    it('answers 400 for a path that is not valid percent-encoding', async () => {
      const answer = await get('/api/operations/%E0%A4%A');
      expect(answer.status).toBe(400);
      expect(errorOf(answer).code).toBe('INVALID_PATH');
    });

    it('answers only to loopback host names (no DNS rebinding)', async () => {
      const answer = await call(base, '/api/environments', {
        headers: { host: 'evil.example.com' },
      });
      expect(answer.status).toBe(421);
      const local = await call(base, '/api/environments', {
        headers: { host: `localhost:${new URL(base).port}` },
      });
      expect(local.status).toBe(200);
    });

    it('answers a 500 with a JSON body when a handler throws, and goes on serving', async () => {
      serverErrors.length = 0;
      for (const path of ['/api/environments', '/api/environments/demo/operations']) {
        const answer = await get(path, 'boom');
        expect(answer.status).toBe(500);
        expect(errorOf(answer)).toEqual({
          code: 'INTERNAL_ERROR',
          message: expect.stringMatching(/the authorization service is down/),
        });
      }
      expect(serverErrors).toHaveLength(2);
      const op = demoOperations[0] as OperationJson;
      expect((await get(`/api/operations/${op.id}/events`, 'boom')).status).toBe(500);
      expect(serverErrors).toHaveLength(3);
      serverErrors.length = 0;
      expect((await get('/api/environments/demo/operations')).status).toBe(200);
    });

    it('survives an actorOf that throws, and a client that leaves mid-stream', async () => {
      const fragile = createDashboardServer({
        session,
        actorOf: () => {
          throw new TypeError('cannot read the session cookie');
        },
      });
      const url = await fragile.listen(0);
      try {
        const answer = await call(url, '/api/environments');
        expect(answer.status).toBe(500);
        expect(errorOf(answer).message).toMatch(/cannot read the session cookie/);
        expect((await call(url, '/api/nothing')).status).toBe(404);
      } finally {
        await fragile.close();
      }
      const stream = await openEventStream(base, `/api/operations/${demoOperations[0]?.id}/events`);
      stream.close();
      expect((await get('/api/environments')).status).toBe(200);
    });
  });

  describe('a running operation', () => {
    it('streams its log live over server-sent events, is cancelled from the API, and shows the rollback verdict', async () => {
      const running = watchOutput(
        spawnCli(
          [
            'run',
            'app.deploy',
            '--env',
            'prod',
            '--resource',
            'app:web',
            '--param',
            'image=web:v4',
            '--speed',
            '5',
          ],
          { cwd: work.dir },
        ),
      );
      const [, id = ''] = await running.waitFor('stderr', /Operation (\S+) started/);
      // While it pulls the image (20 virtual seconds, 4 real ones at speed 5).
      await running.waitFor('stdout', /\[pull image\] Step 'pull image' started/);

      const listed = (await get('/api/environments/prod/operations?status=running')).json<Page>();
      expect(listed.items.map((o) => o.id)).toEqual([id]);
      expect((await get(`/api/operations/${id}`)).json()).toMatchObject({
        status: 'running',
        rollback: 'none',
      });

      const stream = await openEventStream(base, `/api/operations/${id}/events`);
      expect(stream.status).toBe(200);
      // The lines so far, at once.
      await stream.waitFor(
        (e) => e.event === 'log' && e.data.includes("Step 'pull image' started"),
      );
      const connected = Date.now();
      // A second follower leaves while the operation runs: the server goes on.
      const quitter = await openEventStream(base, `/api/operations/${id}/events`);
      await quitter.waitFor((e) => e.event === 'log');
      quitter.close();
      await quitter.closed;

      const cancel = await call(base, `/api/operations/${id}/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'bob@example.com' }),
      });
      expect(cancel.status).toBe(202);
      expect(cancel.json()).toEqual({ id, status: 'running', alreadyRequested: false });

      // Live: lines written after the stream opened arrive on it, up to the end.
      const requested = await stream.waitFor(
        (e) => e.event === 'log' && e.data.includes('Cancellation requested by bob@example.com'),
      );
      expect(requested.receivedAt).toBeGreaterThanOrEqual(connected);
      const end = await stream.waitFor((e) => e.event === 'end');
      expect(JSON.parse(end.data)).toMatchObject({
        id,
        status: 'failed',
        cancelled: true,
        rollback: 'succeeded',
      });
      await stream.closed;
      const logs = stream.events.filter((e) => e.event === 'log');
      expect(JSON.parse(logs.at(-1)?.data ?? '{}')).toMatchObject({
        message: expect.stringMatching(/Rollback succeeded/),
      });
      expect(await running.exited).toBe(1);
      expect(running.text.stderr).toMatch(/was cancelled by bob@example.com.*Rollback succeeded/);

      // The verdict is then visible everywhere, and the streamed lines are the stored log.
      expect((await get(`/api/operations/${id}`)).json()).toMatchObject({
        status: 'failed',
        cancelled: true,
        rollback: 'succeeded',
      });
      const stored = (await get(`/api/operations/${id}/log`)).json<{ lines: object[] }>().lines;
      const text = await get(`/api/operations/${id}/log.txt`);
      const textLines = text.text.trimEnd().split('\n');
      expect(logs.map((e) => JSON.parse(e.data) as unknown)).toEqual(
        stored.map((line, i) => ({ ...line, text: textLines[i] })),
      );
      expect(text.text).toBe((await cli('operation:logs', id)).stdout);
      expect(text.text.trimEnd().split('\n').at(-1)).toMatch(/Rollback succeeded/);
      const again = await call(base, `/api/operations/${id}/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-opledger-user': 'bob@example.com' },
        body: '{}',
      });
      expect(again.status).toBe(409);
    }, 60_000);
  });

  it('answered no request with a 500 but those it was meant to', () => {
    expect(serverErrors.map((e) => (e as Error).message)).toEqual([]);
  });
});
