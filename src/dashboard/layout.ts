import type { ServerResponse } from 'node:http';
import { markup, path, query, type Html } from './html.js';
import { sendBody } from './http.js';

export interface Crumb {
  label: string;
  href?: string;
}

export interface PageOptions {
  title: string;
  /** Where the page sits: Environments > prod > Activity. */
  crumbs?: Crumb[];
  /** `data-*` attributes of the body, read by the page's script. */
  data?: Record<string, string>;
  /** The environment (and app) the page is about: the header links to their views. */
  section?: Section;
}

export type SectionView = 'overview' | 'activity' | 'reports' | 'metrics' | 'app-metrics';

export interface Section {
  environment: string;
  /** An app's page, or a page of one of its operations: its own Metrics are linked too. */
  app?: string;
  /** The view the page is, marked as current. */
  current?: SectionView;
}

/**
 * The views of an environment, on every page about it, so that its Metrics (and an app's) are
 * one click away from anywhere, not only from the environment's page.
 */
const sectionNav = ({ environment, app, current }: Section): Html => {
  const base = path`/environments/${environment}`;
  const views: [SectionView, string, string][] = [
    ['overview', 'Overview', base],
    ['activity', 'Activity', `${base}/activity`],
    ['reports', 'Activity Reports', `${base}/activity-reports`],
    ['metrics', 'Metrics', `${base}/metrics`],
  ];
  if (app !== undefined)
    views.push(['app-metrics', `Metrics of ${app}`, `${base}/metrics${query({ app })}`]);
  const items = views.map(
    ([view, label, href]) =>
      markup`<li><a id="nav-${view}" href="${href}"${view === current ? markup` aria-current="page"` : ''}>${label}</a></li>`,
  );
  return markup`<nav id="section-nav" class="tabs" aria-label="${environment}"><ul>${items}</ul></nav>`;
};

export const layout = (options: PageOptions, main: Html): Html => {
  const crumbs: Crumb[] = [{ label: 'Environments', href: '/' }, ...(options.crumbs ?? [])];
  const data = Object.entries(options.data ?? {}).map(
    ([key, value]) => markup` data-${key}="${value}"`,
  );
  const trail = crumbs.map((c, i) =>
    c.href && i < crumbs.length - 1
      ? markup`<li><a href="${c.href}">${c.label}</a></li>`
      : markup`<li aria-current="page">${c.label}</li>`,
  );
  return markup`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · opledger</title>
<link rel="stylesheet" href="/assets/dashboard.css">
<script type="module" src="/assets/dashboard.js"></script>
</head>
<body${data}>
<header>
<a class="brand" href="/">opledger</a>
<nav aria-label="breadcrumbs"><ol>${trail}</ol></nav>
${options.section ? sectionNav(options.section) : ''}
</header>
<main>
${main}
</main>
</body>
</html>
`;
};

/**
 * The pages load nothing but this server's script and styles: a value that slipped through
 * escaping still could not run.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export const sendPage = (
  res: ServerResponse,
  status: number,
  page: Html,
  headers: Record<string, string> = {},
): void =>
  sendBody(res, status, 'text/html; charset=utf-8', page.text, {
    ...SECURITY_HEADERS,
    ...headers,
  });

const ERROR_TITLES: Record<number, string> = { 403: 'Not allowed', 404: 'Not found' };

/** The page of an error: the same code and message as the API's JSON. */
export const errorPage = (status: number, code: string, message: string): Html =>
  layout(
    { title: `${status} ${code}`, crumbs: [{ label: `Error ${status}` }] },
    markup`<h1>${ERROR_TITLES[status] ?? `Error ${status}`}</h1>
<p id="error" class="error" data-code="${code}">${message}</p>`,
  );
