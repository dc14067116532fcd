import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { Subscription } from 'rxjs';
import { cancelOperation, followFeed, observerClient } from '../engine/operation-access.js';
import { allowAll, ensureAllowed, type Authorize } from '../domain/authorization.js';
import type { EventStore } from '../domain/event-store.js';
import { systemClock, type Clock } from '../engine/clock.js';
import { DEFAULT_STORE_OUTAGE_MS, StoreUnavailableError } from '../engine/store-outage.js';
import { causeText } from '../engine/store-unavailable.js';
import { createReadModel, renderLogLine, type ReportRange } from '../projections/read-model.js';
import type { ReadStore } from '../projections/read-store.js';
import {
  attachment,
  HttpError,
  parseWith,
  queryOf,
  readJsonBody,
  sendJson,
  sendText,
  toErrorAnswer,
  isNavigation,
} from './http.js';
import { noQuery, param, type Context, type Handler } from './handler.js';
import { withPosted } from './activity-reports.js';
import { cancelBody, listOptions, operationsQuery, metricsQuery, rangeQuery } from './queries.js';
import { environmentsWithResources } from './environments.js';
import { errorPage, sendPage } from './layout.js';
import { pageRoutes } from './pages/index.js';
import { createDeliveryMetrics } from '../projections/delivery-metrics.js';
import { deliveryMetricsCsv } from '../projections/metrics-table.js';
import { assetRoutes } from './assets.js';
import { createRouter, type Route } from './router.js';

/** Where the dashboard reads: an open store session of the CLI, or the stores themselves. */
export type DashboardSources =
  | {
      session: {
        stores: { eventStore: EventStore; readStore: ReadStore };
        catchUp(): Promise<unknown>;
      };
    }
  | {
      /** Live logs and cancellation work on its events, whichever process writes them. */
      store: EventStore;
      /** The read store a projector fills: listings, logs, reports. */
      readStore: ReadStore;
      /**
       * Called before every read, to bring the read store up to date (e.g. a projector's
       * `catchUp`). Leave it out when a projector already runs live on the read store.
       */
      catchUp?: () => Promise<unknown>;
    };

export type DashboardOptions = DashboardSources & {
  /** Consulted on every request, as by the read model; allows everything by default. */
  authorize?: Authorize;
  /**
   * Who asks, handed to `authorize` unchanged. By default the `x-opledger-user` header: a
   * claim anyone who reaches the port can make, not an authentication.
   */
  actorOf?: (req: IncomingMessage) => unknown;
  /** For the current week of the activity reports. */
  clock?: Pick<Clock, 'now'>;
  /** Told of every error answered with a 500 (the server itself goes on). */
  onError?: (error: unknown, req: IncomingMessage) => void;
  /**
   * Host names the server answers to (any port). Loopback names by default, so that a web
   * page whose domain is rebound to 127.0.0.1 cannot read or cancel anything.
   */
  allowedHosts?: readonly string[];
  /** Between comments that keep an idle event stream open; 15 s by default. */
  heartbeatMs?: number;
  /**
   * While a store cannot be reached, requests are answered at once with a 503 and a
   * `Retry-After` of `retryAfterSeconds` (5 by default), not held until it is back. Live log
   * streams (`/api/operations/:id/events`) ride the outage out instead, for up to `maxMs`
   * (60 000 by default), resuming after the last line sent.
   */
  storeOutage?: { retryAfterSeconds?: number; maxMs?: number };
};

export interface DashboardServer {
  /** Listens on 127.0.0.1 (`port` 0, the default, takes a free one); resolves with the base URL. */
  listen(port?: number): Promise<string>;
  /** The base URL, e.g. `http://127.0.0.1:4321/`, once listening. */
  readonly url: string | undefined;
  /** Ends the live event streams, stops listening and closes every connection. Leaves the stores open. */
  close(): Promise<void>;
  readonly server: Server;
}

export const DEFAULT_ACTOR_HEADER = 'x-opledger-user';
const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * The read-only web dashboard and its JSON API over a read store and an event store. It listens
 * on 127.0.0.1 only and answers only to loopback host names unless `allowedHosts` says otherwise;
 * every read is checked by `authorize` for the actor `actorOf(req)` names.
 *
 * @example
 * ```ts
 * import { createDashboardServer } from 'opledger/dashboard';
 *
 * const dashboard = createDashboardServer({ store, readStore, authorize: () => true });
 * const url = await dashboard.listen(0); // http://127.0.0.1:PORT/
 * await dashboard.close();
 * ```
 */
export const createDashboardServer = (options: DashboardOptions): DashboardServer => {
  const sources =
    'session' in options
      ? {
          store: options.session.stores.eventStore,
          readStore: options.session.stores.readStore,
          catchUp: () => options.session.catchUp(),
        }
      : options;
  const { store, readStore } = sources;
  const catchUp = sources.catchUp ?? (async () => undefined);
  const authorize = options.authorize ?? allowAll;
  const actorOf = options.actorOf ?? ((req) => req.headers[DEFAULT_ACTOR_HEADER]);
  const clock = options.clock ?? systemClock;
  const allowedHosts = new Set(options.allowedHosts ?? LOOPBACK_HOSTS);
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const reads = createReadModel({ readStore, eventStore: store, authorize, clock });
  // Requests never wait for a store that is away: they are answered with a 503 (see below).
  const noWait = { maxMs: 0 };
  const storeClient = observerClient(store, authorize, noWait);
  // A live log waits, and resubscribes after the last event it got: no line lost or repeated.
  const followClient = observerClient(store, authorize, {
    maxMs: options.storeOutage?.maxMs ?? DEFAULT_STORE_OUTAGE_MS,
  });
  const retryAfter = String(options.storeOutage?.retryAfterSeconds ?? 5);
  /** A store that cannot be reached now: a 503 the client may retry, never a 500. */
  const unavailable = (error: unknown): unknown => {
    const down =
      (error as { code?: unknown } | null)?.code === 'STORE_UNAVAILABLE' ||
      store.outage?.isTransient(error) === true ||
      readStore.outage?.isTransient(error) === true;
    if (!down) return error;
    // A raw driver error does not say whose connection it was: every store it may be from.
    const hosts =
      error instanceof StoreUnavailableError
        ? [error.host]
        : [
            ...new Set(
              [store.outage, readStore.outage].flatMap((o) =>
                o?.isTransient(error) ? [o.host] : [],
              ),
            ),
          ];
    const host = hosts.join(' or ') || 'its host';
    return new HttpError(
      503,
      'STORE_UNAVAILABLE',
      `The store at ${host} cannot be reached just now (${causeText(error instanceof StoreUnavailableError ? error.lastCause : error)}). Nothing is lost: try again in ${retryAfter} s, once it is back.`,
      { 'retry-after': retryAfter },
    );
  };
  const streams = new Set<{ subscription: Subscription; res: ServerResponse }>();

  const routes: Route<Handler>[] = [];
  const get = (pattern: string, run: Handler['run'], read = true, head = true) =>
    routes.push({ method: 'GET', pattern, handler: { reads: read, run }, head });

  get(
    '/api',
    async ({ res }) => {
      sendJson(res, 200, {
        routes: routes
          .filter((r) => r.pattern.startsWith('/api'))
          .map((r) => `${r.method} ${r.pattern}`),
        docs: 'docs/dashboard.md',
      });
    },
    false,
  );

  get('/api/environments', async (ctx) => {
    noQuery(ctx);
    sendJson(ctx.res, 200, await environmentsWithResources(reads, ctx.actor));
  });

  get('/api/environments/:env/operations', async (ctx) => {
    const q = parseWith(operationsQuery, queryOf(ctx.url), 'INVALID_QUERY', 'query');
    const page = await reads.listOperations({
      environment: param(ctx, 'env'),
      actor: ctx.actor,
      ...listOptions(q),
    });
    sendJson(ctx.res, 200, page);
  });

  get('/api/environments/:env/activity-reports', async (ctx) => {
    noQuery(ctx);
    const reports = await reads.activityReports(param(ctx, 'env'), { actor: ctx.actor });
    sendJson(ctx.res, 200, withPosted(reports, clock.now()));
  });

  const sendCsv = async (ctx: Context, range: ReportRange, name: string) => {
    const env = param(ctx, 'env');
    const csv = await reads.activityReportCsv(env, range, { actor: ctx.actor });
    ctx.res.writeHead(200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': attachment(`activity-report-${env}-${name}.csv`),
      'cache-control': 'no-store',
    });
    try {
      await pipeline(csv, ctx.res);
    } catch (error) {
      // The client left mid-download: nothing to answer, nothing gone wrong here.
      if ((error as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
      throw error;
    }
  };

  get('/api/environments/:env/activity-reports/:week.csv', async (ctx) => {
    noQuery(ctx);
    const week = param(ctx, 'week');
    await sendCsv(ctx, { week }, week);
  });

  // The delivery metrics are a projection of their own, brought up to date before each read.
  const delivery = createDeliveryMetrics({ store, readStore, authorize, storeOutage: noWait });
  const metricsOf = async (ctx: Context) => {
    const q = parseWith(metricsQuery, queryOf(ctx.url), 'INVALID_QUERY', 'query');
    await delivery.projection.catchUp().catch((error: unknown) => {
      if ((error as { code?: string }).code !== 'STORE_READ_ONLY') throw error;
    });
    return delivery.metrics({ environment: param(ctx, 'env'), actor: ctx.actor, ...q });
  };

  get('/api/environments/:env/metrics', async (ctx) => {
    sendJson(ctx.res, 200, await metricsOf(ctx));
  });

  get('/api/environments/:env/metrics.csv', async (ctx) => {
    const metrics = await metricsOf(ctx);
    ctx.res.writeHead(200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': attachment(
        `metrics-${metrics.environment}${metrics.app ? `-${metrics.app}` : ''}.csv`,
      ),
      'cache-control': 'no-store',
    });
    ctx.res.end(deliveryMetricsCsv(metrics));
  });

  get('/api/environments/:env/activity-report.csv', async (ctx) => {
    const { from, to } = parseWith(rangeQuery, queryOf(ctx.url), 'INVALID_QUERY', 'range');
    await sendCsv(ctx, { from, to }, `${from}_${to}`);
  });

  get('/api/operations/:id', async (ctx) => {
    noQuery(ctx);
    sendJson(ctx.res, 200, await reads.operation(param(ctx, 'id'), { actor: ctx.actor }));
  });

  get('/api/operations/:id/log', async (ctx) => {
    noQuery(ctx);
    const id = param(ctx, 'id');
    // As `opledger operation:logs ID --json` prints it.
    const [operation, lines] = await Promise.all([
      reads.operation(id, { actor: ctx.actor }),
      reads.logs(id, { actor: ctx.actor }),
    ]);
    sendJson(ctx.res, 200, { operation, lines });
  });

  get('/api/operations/:id/log.txt', async (ctx) => {
    noQuery(ctx);
    const id = param(ctx, 'id');
    // The very text `opledger operation:logs ID` prints.
    const text = await reads.logText(id, { actor: ctx.actor });
    sendText(ctx.res, 'text/plain; charset=utf-8', text, {
      'content-disposition': attachment(`operation-${id}.log`),
    });
  });

  // The store client.s log stream, as `opledger operation:follow` reads it: from the events, so it
  // needs no read model, and sees lines written by any process.
  get(
    '/api/operations/:id/events',
    async (ctx) => {
      noQuery(ctx);
      const { req, res, actor } = ctx;
      const id = param(ctx, 'id');
      // Answered as JSON with their status, before the stream starts.
      const view = await storeClient.getOperation(id);
      await ensureAllowed(authorize, actor, 'operation:follow', {
        environment: view.environment,
        operationId: id,
        resource: view.resource,
      });
      // The revision of the last line the client got (it reconnects with it); absent or empty,
      // the log is sent from its first line.
      const lastEventId = String(req.headers['last-event-id'] ?? '');
      const after = /^\d+$/.test(lastEventId) ? Number(lastEventId) : -1;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      // A write racing a client that left must not become an unhandled 'error'.
      res.on('error', () => undefined);
      res.write('retry: 3000\n\n');
      const send = (event: string, data: unknown, eventId?: number) =>
        res.write(
          `${eventId !== undefined ? `id: ${eventId}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`,
        );
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), heartbeatMs);
      heartbeat.unref();
      const entry = {
        res,
        subscription: followFeed(followClient, id, actor).subscribe({
          next: (event) => {
            if (event.kind === 'result') send('end', event.result);
            else if (event.line.revision > after) {
              // With the line as the CLI prints it, so that no client renders it its own way.
              send('log', { ...event.line, text: renderLogLine(event.line) }, event.line.revision);
            }
          },
          error: (error: unknown) => {
            const answer = toErrorAnswer(unavailable(error));
            if (answer.internal) options.onError?.(error, req);
            send('failure', answer.body);
            res.end();
          },
          complete: () => res.end(),
        }),
      };
      streams.add(entry);
      res.on('close', () => {
        clearInterval(heartbeat);
        entry.subscription.unsubscribe();
        streams.delete(entry);
      });
    },
    false,
    // A HEAD would open a subscription that nothing reads.
    false,
  );

  routes.push({
    method: 'POST',
    pattern: '/api/operations/:id/cancel',
    handler: {
      reads: false,
      async run(ctx) {
        noQuery(ctx);
        const id = param(ctx, 'id');
        const body = parseWith(cancelBody, await readJsonBody(ctx.req), 'INVALID_BODY', 'body');
        const user = body.user ?? (typeof ctx.actor === 'string' ? ctx.actor : undefined);
        if (!user) {
          throw new HttpError(
            400,
            'INVALID_BODY',
            'Say who cancels: send { "user": "EMAIL" } (or the x-opledger-user header).',
          );
        }
        // From the events, as `opledger operation:cancel` does: unknown ids are 404 for everyone.
        const view = await storeClient.getOperation(id);
        await ensureAllowed(authorize, ctx.actor, 'operation:cancel', {
          environment: view.environment,
          operationId: id,
          resource: view.resource,
        });
        sendJson(ctx.res, 202, await cancelOperation(store, id, user, noWait));
      },
    },
  });

  routes.push(...pageRoutes({ reads, readStore, clock }, delivery), ...assetRoutes());
  const router = createRouter(routes);

  const checkHost = (req: IncomingMessage) => {
    const host = req.headers.host ?? '';
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
    if (!allowedHosts.has((name ?? '').toLowerCase())) {
      throw new HttpError(
        421,
        'MISDIRECTED_REQUEST',
        `This dashboard answers only to ${[...allowedHosts].join(', ')}; open it at its loopback URL.`,
      );
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // Until a route matches: a page's path or a browser's navigation gets an error page.
    let errorsAsPage = isNavigation(req) || !/^\/(api|assets)(\/|$)/.test(req.url ?? '/');
    try {
      checkHost(req);
      const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
      const { handler, params } = router.match(req.method ?? 'GET', url.pathname);
      // A page answers errors with a page; the API with JSON, unless a browser navigated to it
      // (a download link whose range is wrong, say), which would show the raw JSON.
      errorsAsPage = handler.page === true || isNavigation(req);
      const actor = actorOf(req);
      if (handler.reads) await catchUp();
      await handler.run({ req, res, url, params, actor });
    } catch (error) {
      const answer = toErrorAnswer(unavailable(error));
      if (answer.internal) options.onError?.(error, req);
      if (res.headersSent) {
        // Part of a CSV or a stream is out: cutting the connection is the only honest signal.
        res.destroy();
        return;
      }
      // A body refused unread (too large, not JSON) is not drained: the connection goes.
      const refused = answer.status === 413 || answer.status === 415;
      if (!refused) req.resume();
      const headers = refused ? { ...answer.headers, connection: 'close' } : answer.headers;
      if (errorsAsPage) {
        const { code, message } = answer.body.error;
        sendPage(res, answer.status, errorPage(answer.status, code, message), headers);
      } else sendJson(res, answer.status, answer.body, headers);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // Only a failure to write the error itself gets here.
      options.onError?.(error, req);
      res.destroy();
    });
  });
  let url: string | undefined;

  return {
    server,
    get url() {
      return url;
    },
    listen: (port = 0) =>
      new Promise<string>((resolve, reject) => {
        const failed = (error: Error) => reject(error);
        server.once('error', failed);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', failed);
          url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
          resolve(url);
        });
      }),
    async close() {
      for (const { subscription, res } of streams) {
        subscription.unsubscribe();
        res.end();
      }
      streams.clear();
      await new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
};
