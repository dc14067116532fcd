/**
 * Real, tiny HTTP upstreams on loopback for the proxy and load-generator tests, plus a resource
 * list that afterEach empties, so nothing outlives a test (also one that failed).
 */
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Resources {
  /** Registers a closer; run() calls them in reverse order. */
  add(close: () => unknown): void;
  run(): Promise<void>;
}

export const createResources = (): Resources => {
  const closers: Array<() => unknown> = [];
  return {
    add: (close) => void closers.push(close),
    run: async () => {
      const errors: unknown[] = [];
      for (const close of closers.splice(0).reverse()) {
        try {
          await close();
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length) throw new AggregateError(errors, 'cleanup failed');
    },
  };
};

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, upstream: Upstream) => void;

export interface Upstream {
  readonly name: string;
  readonly port: number;
  /** { id: name, port }: what the proxy registers. */
  readonly target: { id: string; port: number };
  readonly received: ReceivedRequest[];
  /** performance.now() when each response finished being written, in order. */
  readonly answeredAt: number[];
  /** Open connections to it right now (keep-alive ones included). */
  connections(): Promise<number>;
  /** Stops listening and destroys every connection at once, as a SIGKILLed process would. */
  kill(): Promise<void>;
  /** Stops listening; waits for in-flight requests (idle connections are closed). */
  close(): Promise<void>;
}

/**
 * Routes of the default handler:
 * - `/slow?ms=N`: answers after N ms; `/hang`: never answers;
 * - `/status/N`: answers status N; `/headers`: the request headers as JSON;
 * - `/echo`: streams the request body back with status 201;
 * - anything else: 200 `<name> <method> <url>`.
 * Every response carries `x-upstream: <name>` and `x-custom: kept`.
 */
const defaultHandler: Handler = (req, res, upstream) => {
  const url = new URL(req.url ?? '/', 'http://upstream');
  res.setHeader('x-upstream', upstream.name);
  res.setHeader('x-custom', 'kept');
  if (url.pathname === '/hang') return;
  if (url.pathname === '/slow') {
    const timer = setTimeout(
      () => res.end(`${upstream.name} slow`),
      Number(url.searchParams.get('ms') ?? 300),
    );
    res.once('close', () => clearTimeout(timer));
    return;
  }
  if (url.pathname.startsWith('/status/')) {
    res.statusCode = Number(url.pathname.slice('/status/'.length));
    res.end(`${upstream.name} status ${res.statusCode}`);
    return;
  }
  if (url.pathname === '/headers') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.headers));
    return;
  }
  if (url.pathname === '/echo') {
    res.statusCode = 201;
    req.pipe(res);
    return;
  }
  res.end(`${upstream.name} ${req.method} ${req.url}`);
};

export const startUpstream = async (
  resources: Resources,
  name: string,
  handler: Handler = defaultHandler,
): Promise<Upstream> => {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const stop = (abruptly: boolean): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    if (abruptly) server.closeAllConnections();
    return closing;
  };
  const upstream: Upstream = {
    name,
    port,
    target: { id: name, port },
    received: [],
    answeredAt: [],
    connections: () =>
      new Promise((resolve, reject) =>
        server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      ),
    kill: () => stop(true),
    close: () => stop(false),
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    upstream.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    res.once('finish', () => upstream.answeredAt.push(performance.now()));
    handler(req, res, upstream);
  });
  resources.add(() => stop(true));
  return upstream;
};

/** A loopback port nothing listens on (it was free a moment ago). */
export const closedPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (no keep-alive pool left behind by the test). */
export const send = (
  url: string,
  init: { method?: string; path?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const req = http.request(
      new URL(init.path ?? '/', url),
      { method: init.method ?? 'GET', headers: init.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });

/** Polls until the condition holds; fails the test after timeoutMs instead of hanging. */
export const until = async (
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 2_000,
): Promise<void> => {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(5);
  }
};
