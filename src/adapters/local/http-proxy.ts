/**
 * A reverse proxy on loopback: the local adapter's load-balancer endpoint. Targets are processes
 * serving HTTP on their own loopback ports; the proxy round-robins over the targets in rotation,
 * drains deregistered ones, and retries what is safe to retry, so that a deploy that swaps
 * targets, or a target that dies, is invisible to clients. What it hides from clients it counts in
 * stats(), so that a test can still tell a clean deploy from one the retries papered over.
 */
import http, {
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { OpledgerError } from '../../domain/errors.js';

export interface ProxyTarget {
  id: string;
  port: number;
}

/**
 * Cumulative counters since the proxy started. Retries keep clients from seeing a target that
 * went away while in rotation (a deploy that stopped old containers before deregistering them,
 * say): these counters are where that shows.
 */
export interface ProxyStats {
  /** Client requests received (also those answered 503 while closing). */
  requests: number;
  /** Requests re-sent to another target after an upstream failure (one per re-send). */
  retried: number;
  /**
   * Upstream attempts that failed before any response byte, whatever happened next (a retry, a
   * 502, a 504); attempts the proxy itself aborted because the client left or it closed are not.
   */
  upstreamFailures: number;
  /** upstreamFailures by target id. */
  failuresByTarget: Record<string, number>;
  /** Responses by status code ('200', '502', ...), counted when their head was sent. */
  answered: Record<string, number>;
}

export interface HttpProxy {
  /** The loopback port it listens on. */
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /**
   * Adds a target to the rotation (idempotent; re-registering a draining target puts it back and
   * ends the pending deregister waits at once; a new port for a known id replaces the old one).
   */
  register(target: ProxyTarget): void;
  /**
   * Removes the target from the rotation at once (no new request goes to it) and resolves when
   * its in-flight requests have finished, or after drainMs, whichever comes first. Unknown id:
   * resolves at once.
   */
  deregister(id: string, drainMs: number): Promise<void>;
  /** Ids in rotation, registration order. */
  targets(): string[];
  draining(): string[];
  inFlight(id?: string): number;
  /** A copy of the counters: later requests do not change it. */
  stats(): ProxyStats;
  /** Stops listening, destroys sockets, resolves when closed. */
  close(): Promise<void>;
}

export interface HttpProxyOptions {
  /** 0 (the default): a free port. */
  port?: number;
  /** Where the proxy listens; 127.0.0.1 by default. Targets are always reached on 127.0.0.1. */
  host?: string;
  /** How long an upstream may take to send its response head before the client gets a 504. */
  upstreamTimeoutMs?: number;
}

/** The response header naming the target that served a request. */
export const TARGET_HEADER = 'x-opledger-target';
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 30_000;

const UPSTREAM_HOST = '127.0.0.1';

// RFC 9110 §7.6.1: these describe one connection, not the message, so they are never forwarded.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const CONNECTION_FAILURES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

/** One upstream port of a target and its keep-alive pool (a target may move to a new port). */
interface Pool {
  port: number;
  agent: http.Agent;
  inFlight: number;
}

interface Target {
  id: string;
  /** Where new requests go. */
  pool: Pool;
  /** Pools whose agent is still open: the current one, and older ones still serving requests. */
  pools: Set<Pool>;
  inFlight: number;
  draining: boolean;
  /** When the drain period ends (epoch ms); the earliest deregister's drainMs wins. */
  drainEndsAt: number;
  drainTimer: NodeJS.Timeout | undefined;
  waiters: Array<() => void>;
}

const createPool = (port: number): Pool => ({
  port,
  // Keep-alive: a load test opens thousands of requests a second, and a fresh connection each
  // would exhaust the ephemeral ports (TIME_WAIT) within seconds.
  agent: new http.Agent({ keepAlive: true }),
  inFlight: 0,
});

const connectionTokens = (headers: IncomingHttpHeaders): Set<string> =>
  new Set(
    (headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );

const endToEndHeaders = (headers: IncomingHttpHeaders): OutgoingHttpHeaders => {
  const listed = connectionTokens(headers);
  const kept: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !listed.has(name)) kept[name] = value;
  }
  return kept;
};

const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined ||
  (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

const upstreamHeaders = (req: IncomingMessage, withBody: boolean): OutgoingHttpHeaders => {
  const headers = endToEndHeaders(req.headers);
  const client = req.socket.remoteAddress ?? 'unknown';
  const prior = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = prior ? `${prior}, ${client}` : client;
  // The client's framing was dropped with the hop-by-hop headers: re-chunk a body of unknown
  // length explicitly, since Node does not chunk a GET or DELETE body by default.
  if (withBody && headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
  return headers;
};

const errorCode = (error: unknown): string | undefined =>
  (error as NodeJS.ErrnoException | undefined)?.code;

/**
 * Passive health checking, as real load balancers do (nginx's proxy_next_upstream, Envoy's
 * retry on connect-failure/reset): a request that fails before any response byte arrived is
 * replayed on another target. This keeps the endpoint serving when a target dies abruptly
 * (SIGKILL, no drain) and covers the keep-alive race where the upstream closed an idle socket
 * just as the proxy reused it. Replay is only safe when nothing can be lost or done twice: a body
 * was streamed to the failed upstream and cannot be replayed; a refused connection never reached
 * the upstream; a reset one may have reached it, so only safe methods are replayed after it.
 */
const canRetry = (req: IncomingMessage, withBody: boolean, error: unknown): boolean => {
  if (withBody) return false;
  const code = errorCode(error);
  if (code === 'ECONNREFUSED') return true;
  return SAFE_METHODS.has(req.method ?? '') && code !== undefined && CONNECTION_FAILURES.has(code);
};

const replyText = (res: ServerResponse, status: number, text: string): void => {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${text}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
};

export const proxyClosedError = (): OpledgerError =>
  new OpledgerError(
    'PROXY_CLOSED',
    'The HTTP proxy is closed: start a new one with startHttpProxy() to route requests again.',
  );

const invalidTargetError = (target: ProxyTarget): OpledgerError =>
  new OpledgerError(
    'INVALID_TARGET',
    `Proxy target '${target.id}' needs a non-empty id and a TCP port (1-65535); got port ${target.port}.`,
  );

export const startHttpProxy = async (options: HttpProxyOptions = {}): Promise<HttpProxy> => {
  const host = options.host ?? '127.0.0.1';
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  const known = new Map<string, Target>();
  // Replaced, never mutated: a request reads it once, so it always picks from one consistent
  // list even while a deploy registers and deregisters targets.
  let rotation: readonly Target[] = [];
  let cursor = 0;
  let closed = false;
  let closing: Promise<void> | undefined;
  let requests = 0;
  let retried = 0;
  let upstreamFailures = 0;
  // Maps, not object literals: a target id such as '__proto__' must count like any other.
  const failuresByTarget = new Map<string, number>();
  const answered = new Map<string, number>();
  const increment = (counts: Map<string, number>, key: string): void =>
    void counts.set(key, (counts.get(key) ?? 0) + 1);

  /** replyText, counted: a response whose head already went out is cut, not answered again. */
  const reply = (res: ServerResponse, status: number, text: string): void => {
    if (!res.headersSent) increment(answered, String(status));
    replyText(res, status, text);
  };

  /** Round-robin over the rotation, skipping targets this request already tried. */
  const pick = (tried: ReadonlySet<string>): Target | undefined => {
    const candidates = tried.size ? rotation.filter((t) => !tried.has(t.id)) : rotation;
    if (candidates.length === 0) return undefined;
    const target = candidates[cursor % candidates.length];
    cursor = (cursor + 1) % Number.MAX_SAFE_INTEGER;
    return target;
  };

  const endDrain = (target: Target): void => {
    clearTimeout(target.drainTimer);
    target.drainTimer = undefined;
    const waiters = target.waiters.splice(0);
    for (const resolve of waiters) resolve();
  };

  /** The target leaves for good: drained, drain period over, or proxy closed. */
  const retire = (target: Target): void => {
    if (known.get(target.id) === target) known.delete(target.id);
    // Destroying the agents aborts whatever still runs on them: after the drain period, the
    // caller is told it may stop the container, which would cut those requests anyway.
    for (const pool of target.pools) pool.agent.destroy();
    target.pools.clear();
    endDrain(target);
  };

  const release = (target: Target, pool: Pool): void => {
    pool.inFlight -= 1;
    target.inFlight -= 1;
    if (pool !== target.pool && pool.inFlight === 0 && target.pools.delete(pool)) {
      pool.agent.destroy();
    }
    if (target.draining && target.inFlight === 0) retire(target);
  };

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const withBody = hasBody(req);
    const headers = upstreamHeaders(req, withBody);
    const tried = new Set<string>();
    let clientGone = false;
    let current: ClientRequest | undefined;

    // A client that hangs up early must not keep a target busy (nor hold its drain).
    res.once('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      current?.destroy();
    });
    req.on('error', () => undefined);
    res.on('error', () => undefined);

    const fail = (status: number, text: string): void => {
      // Let the client's unread body flow, or its keep-alive connection would stall.
      if (!req.readableEnded) req.resume();
      reply(res, status, text);
    };

    const attempt = (target: Target): void => {
      tried.add(target.id);
      const pool = target.pool;
      target.inFlight += 1;
      pool.inFlight += 1;
      let settled = false;
      let responded = false;
      let timedOut = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        release(target, pool);
      };

      const upstream = http.request({
        host: UPSTREAM_HOST,
        port: pool.port,
        method: req.method,
        path: req.url,
        headers,
        agent: pool.agent,
      });
      current = upstream;
      const timer = setTimeout(() => {
        timedOut = true;
        upstream.destroy();
      }, upstreamTimeoutMs);

      // 'close' comes once the response was read to its end, or the exchange failed.
      upstream.once('close', settle);
      upstream.on('error', (error) => {
        settle();
        if (clientGone || closed) return;
        if (responded) return void res.destroy();
        upstreamFailures += 1;
        increment(failuresByTarget, target.id);
        if (timedOut) {
          return fail(504, `Target '${target.id}' did not answer within ${upstreamTimeoutMs} ms.`);
        }
        const next = canRetry(req, withBody, error) ? pick(tried) : undefined;
        if (next) {
          retried += 1;
          return attempt(next);
        }
        fail(
          502,
          `Bad gateway: no target could serve the request (tried ${[...tried].join(', ')}; last error ${errorCode(error) ?? (error as Error).message}).`,
        );
      });
      upstream.once('response', (upstreamRes) => {
        responded = true;
        clearTimeout(timer);
        if (clientGone) return void upstream.destroy();
        const status = upstreamRes.statusCode ?? 502;
        const responseHeaders = endToEndHeaders(upstreamRes.headers);
        responseHeaders[TARGET_HEADER] = target.id;
        try {
          if (upstreamRes.statusMessage) res.statusMessage = upstreamRes.statusMessage;
          res.writeHead(status, responseHeaders);
          increment(answered, String(status));
        } catch {
          upstream.destroy();
          return fail(502, `Target '${target.id}' sent a response head that cannot be relayed.`);
        }
        // Once response bytes went out, a failure can only cut the client's connection.
        pipeline(upstreamRes, res, (error) => {
          if (error) {
            upstream.destroy();
            res.destroy();
          }
        });
      });

      if (withBody) req.pipe(upstream);
      else upstream.end();
    };

    const first = pick(tried);
    if (!first)
      return fail(503, 'Service unavailable: no target is registered with this endpoint.');
    attempt(first);
  };

  const server = http.createServer((req, res) => {
    requests += 1;
    if (closed) return reply(res, 503, 'Service unavailable: the proxy is closing.');
    forward(req, res);
  });
  server.on('clientError', (error, socket) => {
    // A malformed request gets a 400 and loses its connection; nothing else is affected.
    if (errorCode(error) === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((cause: unknown) => {
    throw new OpledgerError(
      'PROXY_LISTEN_FAILED',
      `The HTTP proxy could not listen on ${host}:${options.port ?? 0} (${errorCode(cause) ?? (cause as Error).message}): choose another port, or 0 for a free one.`,
      { cause },
    );
  });
  server.on('error', () => undefined);

  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const register = (spec: ProxyTarget): void => {
    if (closed) throw proxyClosedError();
    if (!spec.id || !Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65_535) {
      throw invalidTargetError(spec);
    }
    let target = known.get(spec.id);
    if (!target) {
      const pool = createPool(spec.port);
      target = {
        id: spec.id,
        pool,
        pools: new Set([pool]),
        inFlight: 0,
        draining: false,
        drainEndsAt: 0,
        drainTimer: undefined,
        waiters: [],
      };
      known.set(spec.id, target);
    } else if (target.pool.port !== spec.port) {
      const old = target.pool;
      target.pool = createPool(spec.port);
      target.pools.add(target.pool);
      if (old.inFlight === 0 && target.pools.delete(old)) old.agent.destroy();
    }
    if (target.draining) {
      target.draining = false;
      endDrain(target);
    }
    if (!rotation.includes(target)) rotation = [...rotation, target];
  };

  const deregister = (id: string, drainMs: number): Promise<void> => {
    const target = known.get(id);
    if (!target || closed) return Promise.resolve();
    if (!target.draining) {
      target.draining = true;
      rotation = rotation.filter((t) => t !== target);
      target.drainEndsAt = Number.POSITIVE_INFINITY;
    }
    if (target.inFlight === 0) {
      retire(target);
      return Promise.resolve();
    }
    const endsAt = Date.now() + Math.max(0, drainMs);
    if (endsAt < target.drainEndsAt) {
      target.drainEndsAt = endsAt;
      clearTimeout(target.drainTimer);
      target.drainTimer = setTimeout(() => retire(target), Math.max(0, drainMs));
    }
    return new Promise((resolve) => target.waiters.push(resolve));
  };

  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      closed = true;
      server.close(() => resolve());
      server.closeAllConnections();
      for (const target of [...known.values()]) retire(target);
      rotation = [];
    });
    return closing;
  };

  return {
    port,
    url,
    register,
    deregister,
    targets: () => rotation.map((t) => t.id),
    draining: () => [...known.values()].filter((t) => t.draining).map((t) => t.id),
    inFlight: (id) => {
      if (id !== undefined) return known.get(id)?.inFlight ?? 0;
      let total = 0;
      for (const target of known.values()) total += target.inFlight;
      return total;
    },
    stats: () => ({
      requests,
      retried,
      upstreamFailures,
      failuresByTarget: Object.fromEntries(failuresByTarget),
      answered: Object.fromEntries(answered),
    }),
    close,
  };
};
