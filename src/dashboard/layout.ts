import type { ServerResponse } from 'node:http';
import { markup, type Html } from './html.js';
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
}

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
