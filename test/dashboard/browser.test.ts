import { readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cliWorkspace,
  launchChromium,
  logLines,
  SCREENSHOTS,
  screenshot,
  textLines,
  type LogJson,
  type OperationJson,
  type OperationsPage,
  type ResultRecord,
} from './browser-fixture.js';

/**
 * The dashboard's web pages end to end, in headless Chromium, over the built CLI: `opledger demo`
 * fills a SQLite store, `opledger dashboard` serves it, and every page is checked against what
 * the CLI prints for the same store (`operations --json`, `operation:logs`, `activity-report`).
 * Screenshots of each view go to test-results/dashboard/.
 */
const ENV = 'demo';
/** An app the tests provision in the demo's environment (the demo deprovisions its own). */
const LIVE_APP = 'api';
/** An environment the tests provision and deprovision: listed as deleted. */
const GONE = 'preview';

interface Resource {
  key: string;
  type: string;
  handle: string;
  deleted: boolean;
  /** Its operations, newest first. */
  operations: OperationJson[];
}

/** The apps and databases of the environment, as its operations (newest first) tell. */
const resourcesOf = (operations: readonly OperationJson[]) => {
  const resources = new Map<string, Resource>();
  for (const op of operations) {
    const { type, handle } = op.resource;
    const key = `${type}:${handle}`;
    const resource = resources.get(key) ?? { key, type, handle, deleted: false, operations: [] };
    resource.operations.push(op);
    resources.set(key, resource);
  }
  for (const resource of resources.values()) {
    const lastSucceeded = resource.operations.find((o) => o.status === 'succeeded');
    resource.deleted = lastSucceeded?.type.endsWith('.deprovision') ?? false;
  }
  return [...resources.values()];
};

const attributes = async (locator: Locator, name: string) => {
  const values: (string | null)[] = [];
  for (const item of await locator.all()) values.push(await item.getAttribute(name));
  return values;
};

const text = async (locator: Locator) => ((await locator.textContent()) ?? '').trim();

/** How #rollback may word a rollback verdict (the page contract does not fix its text). */
const rollbackText = (rollback: string) =>
  rollback === 'succeeded' ? /succeeded|rolled back/i : new RegExp(rollback.replace('_', ' '), 'i');

describe('the dashboard in headless Chromium', () => {
  const workspace = cliWorkspace('dashboard-browser');
  let browser: Browser | undefined;
  /** Why Chromium did not start: every test then fails with it (none is skipped). */
  let browserError: unknown = new Error('the browser did not start');
  let dashboard: ReturnType<typeof workspace.spawn>;
  let base: string;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  /** The deploy the live test cancels; the download test fetches its log. */
  let cancelledLive: string | undefined;

  const operations = (...filters: string[]) =>
    workspace.json<OperationsPage>('operations', '--env', ENV, ...filters);

  const newPage = async (): Promise<Page> => {
    if (!browser) throw browserError;
    const context = await browser.newContext({ acceptDownloads: true });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
    return page;
  };

  const open = async (page: Page, path: string) => {
    const answer = await page.goto(new URL(path, base).href);
    expect(answer?.status(), `GET ${path}`).toBe(200);
  };

  const clickThrough = async (page: Page, link: Locator, path: (url: URL) => boolean) => {
    await link.click();
    await page.waitForURL(path);
  };

  /** The rows of an Activity page against a page of `opledger operations --json`. */
  const expectRows = async (page: Page, expected: OperationsPage) => {
    const rows = page.locator('table#operations tbody tr[data-operation-id]');
    expect(await attributes(rows, 'data-operation-id')).toEqual(expected.items.map((o) => o.id));
    expect(await attributes(rows, 'data-status')).toEqual(expected.items.map((o) => o.status));
    expect((await rows.locator('td.operation a').allTextContents()).map((t) => t.trim())).toEqual(
      expected.items.map((o) => o.type),
    );
    expect(await attributes(rows.locator('td.operation a'), 'href')).toEqual(
      expected.items.map((o) => `/operations/${o.id}`),
    );
  };

  /** The apps and databases lists (environments page and environment page). */
  const expectResourceLists = async (scope: Locator, resources: readonly Resource[]) => {
    for (const [type, list] of [
      ['app', 'apps'],
      ['database', 'databases'],
    ] as const) {
      const expected = resources.filter((r) => r.type === type);
      const items = scope.locator(`ul.${list} > li`);
      expect((await attributes(items, 'data-resource')).sort()).toEqual(
        expected.map((r) => r.key).sort(),
      );
      for (const resource of expected) {
        const item = scope.locator(`ul.${list} > li[data-resource="${resource.key}"]`);
        expect(await item.locator(`a`).first().getAttribute('href')).toBe(
          `/environments/${ENV}/${list}/${resource.handle}`,
        );
        expect(await item.locator('.badge.deleted').count(), `${resource.key} deleted`).toBe(
          resource.deleted ? 1 : 0,
        );
      }
    }
  };

  /** An operation page that has ended, against `operation:logs` and `operation:follow --json`. */
  const expectEndedOperation = async (page: Page, op: OperationJson) => {
    const log = await workspace.run('operation:logs', op.id);
    expect(log.code).toBe(0);
    const logJson = await workspace.json<LogJson>('operation:logs', op.id);
    const follow = await workspace.run('operation:follow', op.id, '--json');
    const result = JSON.parse(textLines(follow.stdout).at(-1) ?? '{}') as ResultRecord;
    expect(result.kind).toBe('result');

    expect(await page.locator('#status').getAttribute('data-status')).toBe(op.status);
    expect(await text(page.locator('#status'))).toContain(op.status);
    expect(await text(page.locator('#rollback'))).toMatch(rollbackText(op.rollback));
    expect(await text(page.locator('#verdict'))).toBe(result.summary);
    expect(await logLines(page)).toEqual(textLines(log.stdout));
    expect(await attributes(page.locator('#log .line'), 'data-revision')).toEqual(
      logJson.lines.map((l) => String(l.revision)),
    );
    expect(await page.locator('#download-log').getAttribute('href')).toBe(
      `/api/operations/${op.id}/log.txt`,
    );
    expect(await page.locator('#cancel-form').count()).toBe(0);
    return result;
  };

  beforeAll(async () => {
    // Screenshots of an earlier run must not stand in for a view this run did not reach.
    rmSync(SCREENSHOTS, { recursive: true, force: true });
    const steps = [
      ['demo'],
      ['run', 'app.provision', '--env', ENV, '--resource', `app:${LIVE_APP}`],
      ['run', 'environment.provision', '--env', GONE, '--resource', `environment:${GONE}`],
      ['run', 'environment.deprovision', '--env', GONE, '--resource', `environment:${GONE}`],
    ];
    for (const args of steps) {
      const result = await workspace.run(...args, '--speed', 'max');
      expect(result.code, `opledger ${args.join(' ')}\n${result.stderr}`).toBe(0);
    }
    dashboard = workspace.spawn('dashboard', '--port', '0');
    const [url = ''] = await dashboard.waitFor('stdout', /^http:\/\/127\.0\.0\.1:\d+\/$/);
    base = url;
    browser = await launchChromium().catch((error: unknown) => {
      browserError = error;
      return undefined;
    });
  }, 120_000);

  /** How much of the dashboard's stderr earlier tests have checked already. */
  let stderrChecked = 0;

  afterAll(async () => {
    try {
      await browser?.close();
    } finally {
      await workspace.close();
    }
  }, 60_000);

  afterEach(async () => {
    // One hook, so that a failed check below cannot leave the pages open.
    try {
      await Promise.all(contexts.splice(0).map((c) => c.close()));
    } finally {
      // No page threw, and the server answered no request of this test with a 500 (it prints
      // those on stderr); an earlier test's error is that test's failure, not this one's.
      const stderr = dashboard?.text.stderr ?? '';
      const fresh = stderr.slice(stderrChecked);
      stderrChecked = stderr.length;
      expect(pageErrors.splice(0)).toEqual([]);
      expect(fresh).not.toMatch(/error/i);
    }
  });

  it('navigates environments -> environment -> app -> Activity -> operation, as the CLI lists them', async () => {
    const page = await newPage();
    const all = await operations('--limit', '500');
    expect(all.total).toBe(all.items.length);
    const resources = resourcesOf(all.items).filter((r) => r.type !== 'environment');
    const web = resources.find((r) => r.key === 'app:web');
    expect(web?.deleted, 'the demo deprovisions its app web').toBe(true);

    // The environments: the demo's, and the one deprovisioned, marked deleted and empty.
    await open(page, '/');
    expect(
      (await attributes(page.locator('section.environment'), 'data-environment')).sort(),
    ).toEqual([ENV, GONE].sort());
    const section = page.locator(`section.environment[data-environment="${ENV}"]`);
    expect(await section.locator('h2 .badge.deleted').count()).toBe(0);
    await expectResourceLists(section, resources);
    const gone = page.locator(`section.environment[data-environment="${GONE}"]`);
    expect(await gone.locator('h2 .badge.deleted').count()).toBe(1);
    expect(await gone.locator('h2 a').getAttribute('href')).toBe(`/environments/${GONE}`);
    expect(await gone.locator('li[data-resource]').count()).toBe(0);
    await screenshot(page, 'environments');

    // The environment.
    await clickThrough(
      page,
      section.locator(`h2 a[href="/environments/${ENV}"]`),
      (u) => u.pathname === `/environments/${ENV}`,
    );
    expect(await text(page.locator('h1'))).toContain(ENV);
    await expectResourceLists(page.locator('body'), resources);
    expect(await page.locator('#activity-link').getAttribute('href')).toBe(
      `/environments/${ENV}/activity`,
    );
    expect(await page.locator('#reports-link').getAttribute('href')).toBe(
      `/environments/${ENV}/activity-reports`,
    );
    await screenshot(page, 'environment');

    // The app web: its status, release and last operation as its operations tell.
    await clickThrough(
      page,
      page.locator('ul.apps > li[data-resource="app:web"] a').first(),
      (u) => u.pathname === `/environments/${ENV}/apps/web`,
    );
    const webOps = web?.operations ?? [];
    const last = webOps[0] as OperationJson;
    const release = webOps.find((o) => o.type === 'app.deploy' && o.status === 'succeeded')?.params
      .image as string;
    const facts = page.locator('dl#resource');
    const factsText = await text(facts);
    expect(factsText).toContain('deprovisioned');
    expect(factsText).toContain(release);
    expect(
      factsText.includes(last.id) ||
        (await facts.locator(`a[href="/operations/${last.id}"]`).count()) > 0,
      `dl#resource names the last operation ${last.id}: ${factsText}`,
    ).toBe(true);
    await screenshot(page, 'app');

    // Its Activity: the same page as `opledger operations --resource app:web`.
    await clickThrough(
      page,
      page.locator('#activity-link'),
      (u) =>
        u.pathname === `/environments/${ENV}/activity` &&
        u.searchParams.get('resource') === 'app:web',
    );
    const webActivity = await operations('--resource', 'app:web', '--limit', '20');
    expect(webActivity.items.length).toBeGreaterThan(2);
    await expectRows(page, webActivity);
    expect(await text(page.locator('#page-info'))).not.toBe('');
    await screenshot(page, 'activity');

    // Filtered by status with the form: the resource is kept.
    await page.locator('#filters select[name="status"]').selectOption('failed');
    await clickThrough(
      page,
      page.locator('#filters button[type="submit"]'),
      (u) =>
        u.searchParams.get('status') === 'failed' && u.searchParams.get('resource') === 'app:web',
    );
    const failed = await operations('--resource', 'app:web', '--status', 'failed', '--limit', '20');
    expect(failed.items.length).toBeGreaterThan(1);
    await expectRows(page, failed);
    // And by type, any status.
    await page.locator('#filters select[name="status"]').selectOption({ value: '' });
    await page.locator('#filters input[name="type"]').fill('app.deploy');
    await clickThrough(
      page,
      page.locator('#filters button[type="submit"]'),
      (u) => u.searchParams.get('type') === 'app.deploy' && !u.searchParams.get('status'),
    );
    const deploys = await operations('--resource', 'app:web', '--type', 'app.deploy');
    expect(deploys.items.length).toBeGreaterThan(failed.items.length);
    await expectRows(page, deploys);
    await page.goBack();
    await page.waitForURL((u) => u.searchParams.get('status') === 'failed');

    // The operation: the demo's cancelled deploy, with its log and verdict.
    const cancelled = failed.items.find((o) => o.cancelled) as OperationJson;
    expect(cancelled).toBeDefined();
    await clickThrough(
      page,
      page.locator(`tr[data-operation-id="${cancelled.id}"] td.operation a`),
      (u) => u.pathname === `/operations/${cancelled.id}`,
    );
    const result = await expectEndedOperation(page, cancelled);
    expect(result.summary).toMatch(/was cancelled by .*Rollback succeeded/);
    await screenshot(page, 'operation');
  }, 120_000);

  it('pages through the Activity, shows an empty filter, error pages and a deleted environment', async () => {
    const page = await newPage();
    const first = await operations('--limit', '5');
    expect(first.nextOffset).toBe(5);
    await open(page, `/environments/${ENV}/activity?limit=5`);
    await expectRows(page, first);
    expect(await page.locator('a[rel="prev"]').count()).toBe(0);
    await clickThrough(
      page,
      page.locator('a[rel="next"]').first(),
      (u) => u.searchParams.get('offset') === '5',
    );
    await expectRows(page, await operations('--limit', '5', '--offset', '5'));
    expect(await page.locator('a[rel="prev"]').count()).toBeGreaterThan(0);

    const queued = await operations('--status', 'queued');
    expect(queued.total).toBe(0);
    await open(page, `/environments/${ENV}/activity?status=queued`);
    expect(await page.locator('table#operations tbody tr[data-operation-id]').count()).toBe(0);
    expect(await page.locator('p.empty').count()).toBe(1);

    const missing = await page.goto(new URL('/operations/nope', base).href);
    expect(missing?.status()).toBe(404);
    expect(await page.locator('#error').getAttribute('data-code')).toBe('OPERATION_NOT_FOUND');
    const never = await page.goto(new URL('/environments/never', base).href);
    expect(never?.status()).toBe(404);
    expect(await page.locator('#error').getAttribute('data-code')).toBe('ENVIRONMENT_NOT_FOUND');
    // The deprovisioned environment, linked from the environments page, says it was deleted.
    await screenshot(page, 'error');
    await open(page, `/environments/${GONE}`);
    expect(await text(page.locator('h1'))).toContain(GONE);
    expect(await page.locator('h1 .badge.deleted').count()).toBe(1);
    await screenshot(page, 'environment-deleted');

    // The demo's database, from its environment's page.
    await open(page, `/environments/${ENV}`);
    await clickThrough(
      page,
      page.locator('ul.databases li[data-resource="database:main"] a').first(),
      (u) => u.pathname === `/environments/${ENV}/databases/main`,
    );
    expect(await text(page.locator('h1'))).toContain('Database main');
    const dbOps = await operations('--resource', 'database:main');
    expect(
      await attributes(page.locator('table#operations tbody tr'), 'data-operation-id'),
    ).toEqual(dbOps.items.slice(0, 5).map((o) => o.id));
    await screenshot(page, 'database');
  }, 120_000);

  it('follows a running deploy live, cancels it from the page and shows the rollback verdict', async () => {
    const page = await newPage();
    // At half real-time speed: the Docker Hub outage makes the first 7 s write a line every two
    // to four seconds (three attempts, then the fail-over to Quay.io, whose pull takes 40 s),
    // and the deploy ends a minute in: time enough on a loaded machine to see a line arrive and
    // to cancel before the end.
    const run = workspace.spawn(
      'run',
      'app.deploy',
      '--env',
      ENV,
      '--resource',
      `app:${LIVE_APP}`,
      '--param',
      `image=${LIVE_APP}:v2`,
      '--fault',
      'outage:registry:docker-hub',
      '--speed',
      '0.5',
      '--json',
    );
    const [, id = ''] = await run.waitFor('stdout', /^\{"kind":"started","id":"([^"]+)"/);
    const navigations: string[] = [];
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations.push(frame.url());
    });
    await open(page, `/operations/${id}`);
    expect(['queued', 'running']).toContain(
      await page.locator('#status').getAttribute('data-status'),
    );
    await page.locator('body[data-live="on"]').waitFor({ timeout: 15_000 });
    expect(await text(page.locator('#verdict'))).toBe('');
    const rollbackWhileRunning = await text(page.locator('#rollback'));
    await page.evaluate('window.__sameDocument = true');
    // The script refreshes the operation's view as lines arrive (status, start time).
    const viewRequests: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === `/api/operations/${id}`) viewRequests.push(id);
    });
    const before = await page.locator('#log .line').count();
    expect(before).toBeGreaterThan(0);
    // New lines arrive without reloading the page.
    await expect
      .poll(() => page.locator('#log .line').count(), { timeout: 60_000 })
      .toBeGreaterThan(before);
    // Its status and start time follow the log, without a reload.
    await expect
      .poll(() => page.locator('#status').getAttribute('data-status'), { timeout: 15_000 })
      .toBe('running');
    await expect.poll(() => page.locator('#started time').count(), { timeout: 15_000 }).toBe(1);
    await expect.poll(() => viewRequests.length, { timeout: 15_000 }).toBeGreaterThan(0);
    await screenshot(page, 'operation-live');

    // Cancel from the page: the user, the confirm dialog, then the verdict arrives live.
    const dialogs: string[] = [];
    page.once('dialog', (dialog) => {
      dialogs.push(dialog.type());
      void dialog.accept();
    });
    // Still running: were it over already, there would be nothing to cancel and no rollback.
    expect(await page.locator('#cancel-form:not([hidden])').count(), 'the deploy ended first').toBe(
      1,
    );
    await page.locator('#cancel-user').fill('bob@example.com');
    await page.locator('#cancel').click();
    await page.locator('body[data-live="ended"]').waitFor({ timeout: 60_000 });
    expect(dialogs).toEqual(['confirm']);
    expect(await run.exited).toBe(1);
    const result = JSON.parse(run.text.stdout.trim().split('\n').at(-1) ?? '{}') as ResultRecord;
    expect(result).toMatchObject({ kind: 'result', id, status: 'failed', cancelled: true });
    expect(result.rollback).toBe('succeeded');
    expect(result.summary).toMatch(/was cancelled by bob@example\.com.*Rollback succeeded/);

    await expect
      .poll(() => text(page.locator('#verdict')), { timeout: 15_000 })
      .toBe(result.summary);
    expect(await page.locator('#status').getAttribute('data-status')).toBe('failed');
    expect(await text(page.locator('#status'))).toContain('failed');
    expect(await text(page.locator('#rollback'))).toMatch(rollbackText('succeeded'));
    expect(await text(page.locator('#rollback'))).not.toBe(rollbackWhileRunning);
    await expect.poll(() => page.locator('#finished time').count(), { timeout: 15_000 }).toBe(1);
    expect(await page.locator('#cancel-form').count()).toBe(0);
    expect(await text(page.locator('#cancel-status'))).not.toBe('');
    // Still the document first loaded: everything above came live.
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    expect(navigations).toHaveLength(1);
    // Every line once, in order, as the CLI prints the log.
    const log = await workspace.run('operation:logs', id);
    expect(await logLines(page)).toEqual(textLines(log.stdout));
    expect(textLines(log.stdout)).toContainEqual(
      expect.stringMatching(/Cancellation requested by bob@example\.com/),
    );
    await screenshot(page, 'operation-rolled-back');
    cancelledLive = id;
  }, 180_000);

  it("downloads an operation's log and Activity Reports, byte for byte what the CLI prints", async () => {
    const page = await newPage();
    const download = async (link: Locator) => {
      const [file] = await Promise.all([page.waitForEvent('download'), link.click()]);
      return { name: file.suggestedFilename(), bytes: readFileSync(await file.path()) };
    };
    const expectSameBytes = (bytes: Buffer, cli: { code: number | null; stdout: Buffer }) => {
      expect(cli.code).toBe(0);
      expect(bytes.toString('utf8')).toBe(cli.stdout.toString('utf8'));
      expect(bytes.equals(cli.stdout)).toBe(true);
    };

    // The log of the deploy cancelled live (or, if that test failed, the demo's cancelled one).
    const all = await operations('--limit', '500');
    const id = cancelledLive ?? (all.items.find((o) => o.cancelled) as OperationJson).id;
    await open(page, `/operations/${id}`);
    const log = await download(page.locator('#download-log'));
    expect(log.name).toBe(`operation-${id}.log`);
    expectSameBytes(log.bytes, await workspace.run('operation:logs', id));
    expect(log.bytes.toString('utf8')).toMatch(/Rollback succeeded/);

    // As the seed's users do: the environment, the app, its Activity, and the row's ↓ icon.
    const op = all.items.find((o) => o.id === id) as OperationJson;
    await open(page, `/environments/${ENV}/apps/${op.resource.handle}`);
    await clickThrough(page, page.locator('#activity-link'), (u) =>
      u.pathname.endsWith('/activity'),
    );
    const fromActivity = await download(
      page.locator(`tr[data-operation-id="${id}"] a.download-log`),
    );
    expect(fromActivity.bytes.equals(log.bytes)).toBe(true);

    // The Activity Reports page, reached from the environment.
    await open(page, `/environments/${ENV}`);
    await clickThrough(
      page,
      page.locator('#reports-link'),
      (u) => u.pathname === `/environments/${ENV}/activity-reports`,
    );
    const weeks = await workspace.json<{ week: string; operations: number }[]>(
      'activity-reports',
      '--env',
      ENV,
    );
    expect(await attributes(page.locator('table#reports tr[data-week]'), 'data-week')).toEqual(
      weeks.map((w) => w.week),
    );
    await screenshot(page, 'activity-reports');

    // The busiest week's CSV.
    const week = [...weeks].sort((a, b) => b.operations - a.operations)[0];
    expect(week?.operations).toBeGreaterThan(0);
    const weekly = await download(
      page.locator(`table#reports tr[data-week="${week?.week}"] a.csv`),
    );
    expect(weekly.name).toBe(`activity-report-${ENV}-${week?.week}.csv`);
    expectSameBytes(
      weekly.bytes,
      await workspace.run('activity-report', '--env', ENV, '--week', week?.week ?? ''),
    );

    // A custom range: from the day of the first operation to the day after the last one.
    const days = all.items.map((o) => o.createdAt.slice(0, 10)).sort();
    const from = days[0] ?? '';
    const to = new Date(Date.parse(days.at(-1) ?? '') + 86_400_000).toISOString().slice(0, 10);
    const form = page.locator('form#custom-range');
    expect(await form.getAttribute('action')).toBe(`/api/environments/${ENV}/activity-report.csv`);
    await form.locator('input[name="from"]').fill(from);
    await form.locator('input[name="to"]').fill(to);
    const ranged = await download(form.locator('[type="submit"]'));
    const cli = await workspace.run('activity-report', '--env', ENV, '--from', from, '--to', to);
    expectSameBytes(ranged.bytes, cli);
    // Every operation of the environment is in the range.
    for (const op of all.items) expect(ranged.bytes.toString('utf8')).toContain(op.id);
  }, 120_000);

  /** The marks of a chart (bars of some height, points) and the numbers of its table. */
  const chartOf = async (page: Page, id: string) => {
    const chart = page.locator(`figure.chart#${id}`);
    // A bar carries its <title>; the legend's swatches do not.
    const bar = chart.locator('svg > rect').filter({ has: chart.page().locator('title') });
    const bars = (await attributes(bar, 'height')).map(Number).filter((h) => h > 0).length;
    const points = await chart.locator('svg circle').count();
    const rows: string[][] = [];
    for (const row of await chart.locator('table.chart-data tbody tr').all()) {
      rows.push((await row.locator('td').allTextContents()).map((t) => t.trim()));
    }
    return { chart, bars, points, rows };
  };

  /** Every chart has its title, both axis labels and its table. */
  const expectAccessibleCharts = async (page: Page) => {
    const charts = page.locator('figure.chart');
    expect(await charts.count()).toBe(5);
    for (const chart of await charts.all()) {
      const id = await chart.getAttribute('id');
      expect(await chart.locator('svg[role="img"]').getAttribute('aria-labelledby')).toBe(
        `${id}-title`,
      );
      expect(await chart.locator(`svg title#${id}-title`).count()).toBe(1);
      expect(await chart.locator('svg text.x-label').count()).toBe(1);
      expect(await chart.locator('svg text.y-label').count()).toBe(1);
      expect(await chart.locator('table.chart-data caption').count()).toBe(1);
    }
  };

  /** The range the page charts, from its CSV link, for the CLI to compute the same. */
  const rangeOfPage = async (page: Page) => {
    const href = (await page.locator('#metrics-csv').getAttribute('href')) ?? '';
    const url = new URL(href, base);
    return { from: url.searchParams.get('from') ?? '', to: url.searchParams.get('to') ?? '' };
  };

  interface MetricsJson {
    deploymentFrequency: { deploys: number };
    changeFailureRate: { deploys: number; failed: number };
    timeToRestore: { restored: number };
  }

  it("draws the demo's weeks of delivery metrics as SVG charts, the numbers the CLI computes", async () => {
    const page = await newPage();
    // The Metrics are one click away from any page of the environment: here, its Activity.
    await open(page, `/environments/${ENV}/activity`);
    await clickThrough(
      page,
      page.locator('#nav-metrics'),
      (u) => u.pathname === `/environments/${ENV}/metrics` && u.search === '',
    );
    await expectAccessibleCharts(page);
    const { from, to } = await rangeOfPage(page);
    const cli = await workspace.json<MetricsJson>(
      'metrics',
      '--env',
      ENV,
      '--from',
      from,
      '--to',
      to,
    );

    // Deploys per week, stacked by outcome: a bar in each of the history's six weeks at least,
    // the table summing to what the CLI counts over the same range.
    const deploys = await chartOf(page, 'deploys-per-week');
    const weeksWithDeploys = deploys.rows.filter(([ok, failed]) => Number(ok) + Number(failed) > 0);
    expect(weeksWithDeploys.length).toBeGreaterThanOrEqual(6);
    expect(deploys.bars).toBe(deploys.rows.flat().filter((cell) => Number(cell) > 0).length);
    expect(deploys.rows.reduce((n, [ok]) => n + Number(ok), 0)).toBe(
      cli.deploymentFrequency.deploys,
    );
    expect(deploys.rows.reduce((n, [, failed]) => n + Number(failed), 0)).toBe(
      cli.changeFailureRate.failed,
    );
    expect(cli.changeFailureRate.failed).toBeGreaterThan(0);

    // Lead time week by week: a point per number in its table, in six weeks at least.
    const lead = await chartOf(page, 'lead-time-per-week');
    const leadNumbers = lead.rows.flat().filter((cell) => cell !== '–');
    expect(lead.points).toBe(leadNumbers.length);
    expect(
      lead.rows.filter((row) => row.some((cell) => cell !== '–')).length,
    ).toBeGreaterThanOrEqual(6);
    // Change failure rate and time to restore: points where the table has numbers, some of
    // them above zero (the history fails and restores deploys in several weeks).
    const rate = await chartOf(page, 'change-failure-rate');
    expect(rate.points).toBe(rate.rows.flat().filter((cell) => cell !== '–').length);
    expect(rate.rows.flat().filter((cell) => parseFloat(cell) > 0).length).toBeGreaterThanOrEqual(
      3,
    );
    const restore = await chartOf(page, 'time-to-restore');
    const restored = restore.rows.flat().filter((cell) => cell !== '–');
    expect(restore.points).toBe(restored.length);
    expect(restored.length).toBeGreaterThanOrEqual(3);
    expect(cli.timeToRestore.restored).toBeGreaterThanOrEqual(restored.length);
    await screenshot(page, 'metrics');
  }, 60_000);

  it("draws an app's delivery metrics, linked from the app's page", async () => {
    const page = await newPage();
    await open(page, `/environments/${ENV}/apps/shop`);
    await clickThrough(
      page,
      page.locator('#nav-app-metrics'),
      (u) => u.pathname === `/environments/${ENV}/metrics` && u.search === '?app=shop',
    );
    expect(await page.locator('#nav-app-metrics').getAttribute('aria-current')).toBe('page');
    await expectAccessibleCharts(page);
    const { from, to } = await rangeOfPage(page);
    const cli = await workspace.json<MetricsJson>(
      'metrics',
      '--env',
      ENV,
      '--app',
      'shop',
      '--from',
      from,
      '--to',
      to,
    );
    const deploys = await chartOf(page, 'deploys-per-week');
    expect(deploys.bars).toBeGreaterThan(0);
    expect(deploys.rows.reduce((n, [ok]) => n + Number(ok), 0)).toBe(
      cli.deploymentFrequency.deploys,
    );
    expect(deploys.rows.reduce((n, [, failed]) => n + Number(failed), 0)).toBe(
      cli.changeFailureRate.failed,
    );
    const lead = await chartOf(page, 'lead-time-per-week');
    expect(lead.points).toBeGreaterThan(0);
    // The CSV of the page's table downloads from its link.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('#metrics-csv').click(),
    ]);
    const csv = readFileSync((await download.path()) ?? '', 'utf8');
    expect(csv.split('\r\n')[0]).toBe('metric,about,value');
    expect(csv).toContain(`\r\ndeploys,,${cli.deploymentFrequency.deploys}\r\n`);
    await screenshot(page, 'metrics-app');
  }, 60_000);

  it('has saved a screenshot of each view under test-results/dashboard/', () => {
    expect(readdirSync(SCREENSHOTS).sort()).toEqual(
      [
        'activity',
        'activity-reports',
        'app',
        'database',
        'environment',
        'environment-deleted',
        'environments',
        'error',
        'metrics',
        'metrics-app',
        'operation',
        'operation-live',
        'operation-rolled-back',
      ]
        .map((view) => `${view}.png`)
        .sort(),
    );
  });
});
