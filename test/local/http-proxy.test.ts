import http from 'node:http';
import { connect, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startHttpProxy,
  TARGET_HEADER,
  type HttpProxy,
  type HttpProxyOptions,
} from '../../src/adapters/local/http-proxy.js';
import { startLoad, type LoadGenerator } from '../../src/adapters/local/load-generator.js';
import { closedPort, createResources, send, startUpstream, until } from './upstreams.js';

const resources = createResources();
afterEach(() => resources.run());

const proxyFor = async (options?: HttpProxyOptions): Promise<HttpProxy> => {
  const proxy = await startHttpProxy(options);
  resources.add(() => proxy.close());
  return proxy;
};

const loadThrough = (proxy: HttpProxy): LoadGenerator => {
  const load = startLoad({ url: proxy.url, concurrency: 4 });
  resources.add(() => load.stop());
  return load;
};

/** Release A (a1, a2) and release B (b1, b2) as upstreams, and a proxy in front of none yet. */
const releasesAB = async () => ({
  upstreams: await Promise.all(['a1', 'a2', 'b1', 'b2'].map((n) => startUpstream(resources, n))),
  proxy: await proxyFor(),
});

/** Release A in rotation under load, then B added: returns once each has served 100 requests. */
const serveAThenB = async (
  proxy: HttpProxy,
  [a1, a2, b1, b2]: Awaited<ReturnType<typeof releasesAB>>['upstreams'],
): Promise<LoadGenerator> => {
  proxy.register(a1!.target);
  proxy.register(a2!.target);
  const load = loadThrough(proxy);
  await until(() => load.snapshot().served >= 100, 'release A serves', 3_000);
  proxy.register(b1!.target);
  proxy.register(b2!.target);
  const byB = () => (load.snapshot().servedBy.b1 ?? 0) + (load.snapshot().servedBy.b2 ?? 0);
  await until(() => byB() >= 100, 'release B serves', 3_000);
  return load;
};

const rejection = async (promise: Promise<unknown>): Promise<Error> => {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
};

describe('http proxy: routing', () => {
  it('round-robins over the targets in rotation and passes status, headers and body through', async () => {
    const a = await startUpstream(resources, 'a');
    const b = await startUpstream(resources, 'b');
    const proxy = await proxyFor();
    proxy.register(a.target);
    proxy.register(b.target);
    expect(proxy.targets()).toEqual(['a', 'b']);

    const servedBy: unknown[] = [];
    for (let i = 0; i < 6; i += 1) {
      const reply = await send(proxy.url, { path: `/hello?i=${i}` });
      expect(reply.status).toBe(200);
      expect(reply.body).toBe(`${reply.headers[TARGET_HEADER]} GET /hello?i=${i}`);
      expect(reply.headers['x-upstream']).toBe(reply.headers[TARGET_HEADER]);
      expect(reply.headers['x-custom']).toBe('kept');
      servedBy.push(reply.headers[TARGET_HEADER]);
    }
    expect(servedBy).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    expect([a.received.length, b.received.length]).toEqual([3, 3]);

    const teapot = await send(proxy.url, { path: '/status/418' });
    expect(teapot.status).toBe(418);
    expect(teapot.body).toMatch(/status 418$/);
    expect(proxy.inFlight()).toBe(0);
  });

  it('drops hop-by-hop request headers and keeps end-to-end ones', async () => {
    const a = await startUpstream(resources, 'a');
    const proxy = await proxyFor();
    proxy.register(a.target);

    const reply = await send(proxy.url, {
      path: '/headers',
      headers: { connection: 'x-private', 'x-private': 'secret', 'x-keep': 'yes', te: 'trailers' },
    });
    const seen = JSON.parse(reply.body) as Record<string, string>;
    expect(seen['x-keep']).toBe('yes');
    expect(seen['x-private']).toBeUndefined();
    expect(seen.te).toBeUndefined();
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.host).toBe(new URL(proxy.url).host);
  });

  it('streams a POST body to the target and its response back, chunk by chunk', async () => {
    let releaseResponse!: () => void;
    const bodySeen: string[] = [];
    const a = await startUpstream(resources, 'a', (req, res) => {
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => bodySeen.push(chunk));
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'text/plain' });
        res.write(`got ${bodySeen.join('')};`);
        releaseResponse = () => res.end('the rest');
      });
    });
    const proxy = await proxyFor();
    proxy.register(a.target);

    const req = http.request(new URL('/upload', proxy.url), { method: 'POST', agent: false });
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
    });
    req.write('part-1');
    // The target sees the first part while the client has not finished: nothing is buffered.
    await until(() => bodySeen.join('') === 'part-1', 'the target receives part-1 first');
    req.end('part-2');

    const res = await response;
    expect(res.statusCode).toBe(201);
    expect(res.headers[TARGET_HEADER]).toBe('a');
    res.setEncoding('utf8');
    const chunks: string[] = [];
    res.on('data', (chunk: string) => chunks.push(chunk));
    // The first part of the response arrives before the target has ended it.
    await until(() => chunks.join('') === 'got part-1part-2;', 'the first response chunk');
    releaseResponse();
    await new Promise((resolve) => res.on('end', resolve));
    expect(chunks.join('')).toBe('got part-1part-2;the rest');
    expect(a.received[0]?.method).toBe('POST');
  });

  it('answers 503 when no target is in rotation', async () => {
    const proxy = await proxyFor();
    const reply = await send(proxy.url);
    expect(reply.status).toBe(503);
    expect(reply.body).toMatch(/no target is registered/);
    expect(reply.headers[TARGET_HEADER]).toBeUndefined();
  });

  it('answers 502 when every target refuses the connection', async () => {
    const proxy = await proxyFor();
    proxy.register({ id: 'dead-1', port: await closedPort() });
    proxy.register({ id: 'dead-2', port: await closedPort() });

    const reply = await send(proxy.url);
    expect(reply.status).toBe(502);
    expect(reply.body).toMatch(/no target could serve the request \(tried dead-\d, dead-\d;/);
    expect(reply.body).toMatch(/ECONNREFUSED/);
    expect(proxy.inFlight()).toBe(0);
  });

  it('answers 504 when a target does not answer within upstreamTimeoutMs', async () => {
    const a = await startUpstream(resources, 'a');
    const proxy = await proxyFor({ upstreamTimeoutMs: 150 });
    proxy.register(a.target);

    const startedAt = performance.now();
    const reply = await send(proxy.url, { path: '/hang' });
    const elapsed = performance.now() - startedAt;
    expect(reply.status).toBe(504);
    expect(reply.body).toMatch(/'a' did not answer within 150 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(1_500);
    await until(() => proxy.inFlight('a') === 0, 'the timed-out request leaves the books');
  });

  it('retries a refused bodiless request on the next target, never a request with a body', async () => {
    const healthy = await startUpstream(resources, 'healthy');
    const proxy = await proxyFor();
    proxy.register({ id: 'dead', port: await closedPort() });
    proxy.register(healthy.target);

    for (let i = 0; i < 4; i += 1) {
      const reply = await send(proxy.url);
      expect(reply.status).toBe(200);
      expect(reply.headers[TARGET_HEADER]).toBe('healthy');
      // A refused connection never reached the target: a bodiless POST is replayed too.
      const post = await send(proxy.url, { method: 'POST' });
      expect(post.status).toBe(200);
    }

    const withBody = [];
    for (let i = 0; i < 4; i += 1) {
      withBody.push(await send(proxy.url, { method: 'POST', path: '/echo', body: `body ${i}` }));
    }
    // Round-robin sends half of them to the dead target; their body cannot be replayed.
    expect(withBody.map((r) => r.status).sort()).toEqual([201, 201, 502, 502]);
    for (const reply of withBody.filter((r) => r.status === 201)) {
      expect(reply.headers[TARGET_HEADER]).toBe('healthy');
    }
    expect(proxy.inFlight()).toBe(0);
  });

  it('takes a new port for a known target id', async () => {
    const a = await startUpstream(resources, 'a');
    const proxy = await proxyFor();
    proxy.register({ id: 'a', port: await closedPort() });
    proxy.register({ id: 'a', port: a.port });
    expect(proxy.targets()).toEqual(['a']);
    const reply = await send(proxy.url);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('a GET /');
  });

  it('refuses a target without a valid port with a typed error', async () => {
    const proxy = await proxyFor();
    expect(() => proxy.register({ id: 'x', port: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_TARGET' }),
    );
  });
});

describe('http proxy: deploys and failures', () => {
  it('switches releases atomically under load: zero errors, both releases served', async () => {
    const { upstreams, proxy } = await releasesAB();
    const [a1, a2] = upstreams;
    const load = await serveAThenB(proxy, upstreams);
    await Promise.all([proxy.deregister('a1', 2_000), proxy.deregister('a2', 2_000)]);
    expect(proxy.targets()).toEqual(['b1', 'b2']);
    expect(proxy.draining()).toEqual([]);
    // Drained targets lose their keep-alive pool: no connection to release A stays open.
    await until(
      async () => (await a1!.connections()) + (await a2!.connections()) === 0,
      'no connection to release A',
    );

    // Drained: release A gets no request any more, so its servers can go.
    const seenByA = a1!.received.length + a2!.received.length;
    const servedNow = load.snapshot().served;
    await until(() => load.snapshot().served >= servedNow + 100, 'release B serves alone', 3_000);
    expect(a1!.received.length + a2!.received.length).toBe(seenByA);
    await Promise.all([a1!.close(), a2!.close()]);
    const afterClose = load.snapshot().served;
    await until(() => load.snapshot().served >= afterClose + 100, 'load goes on', 3_000);

    const report = await load.stop();
    expect(report.firstFailures).toEqual([]);
    expect(report.errors).toBe(0);
    expect(report.served).toBe(report.requests);
    for (const name of ['a1', 'a2', 'b1', 'b2']) {
      expect(report.servedBy[name], name).toBeGreaterThan(0);
    }
  });

  it('drains: a slow in-flight request finishes with 200, and deregister waits for it', async () => {
    const a = await startUpstream(resources, 'a');
    const proxy = await proxyFor();
    proxy.register(a.target);

    const slow = send(proxy.url, { path: '/slow?ms=300' });
    await until(() => proxy.inFlight('a') === 1, 'the slow request reaches the target');
    const startedAt = performance.now();
    const drained = proxy.deregister('a', 5_000).then(() => performance.now());

    // Out of rotation at once: a new request finds no target.
    expect(proxy.targets()).toEqual([]);
    expect(proxy.draining()).toEqual(['a']);
    expect((await send(proxy.url)).status).toBe(503);

    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('a slow');
    expect(reply.headers[TARGET_HEADER]).toBe('a');
    const drainedAt = await drained;
    expect(drainedAt).toBeGreaterThanOrEqual(a.answeredAt[0]!);
    expect(drainedAt - startedAt).toBeGreaterThanOrEqual(200);
    expect(drainedAt - startedAt).toBeLessThan(2_000);
    expect(proxy.draining()).toEqual([]);
    expect(proxy.inFlight()).toBe(0);
  });

  it('drains: deregister resolves after drainMs when a request hangs longer', async () => {
    const a = await startUpstream(resources, 'a');
    const proxy = await proxyFor();
    proxy.register(a.target);

    const hanging = send(proxy.url, { path: '/hang' });
    await until(() => proxy.inFlight('a') === 1, 'the hanging request reaches the target');
    const startedAt = performance.now();
    await proxy.deregister('a', 200);
    const elapsed = performance.now() - startedAt;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1_500);
    expect(proxy.draining()).toEqual([]);

    // After the drain period the target is gone: its request is cut, and with nothing left in
    // rotation to replay it on, the client gets a 502.
    const reply = await hanging;
    expect(reply.status).toBe(502);
    expect(proxy.inFlight()).toBe(0);
  });

  it('puts a draining target back when it is registered again, ending the drain wait', async () => {
    const a = await startUpstream(resources, 'a');
    const proxy = await proxyFor();
    proxy.register(a.target);
    const slow = send(proxy.url, { path: '/slow?ms=300' });
    await until(() => proxy.inFlight('a') === 1, 'the slow request reaches the target');

    let drained = false;
    const deregistered = proxy.deregister('a', 5_000).then(() => (drained = true));
    expect(proxy.draining()).toEqual(['a']);
    proxy.register(a.target);
    await deregistered;
    expect(drained).toBe(true);
    expect(proxy.inFlight('a')).toBe(1);
    expect(proxy.targets()).toEqual(['a']);
    expect(proxy.draining()).toEqual([]);
    expect((await send(proxy.url)).status).toBe(200);
    expect((await slow).status).toBe(200);
  });

  it('resolves deregister at once for an unknown or idle target', async () => {
    const a = await startUpstream(resources, 'a');
    const proxy = await proxyFor();
    proxy.register(a.target);
    const startedAt = performance.now();
    await proxy.deregister('nope', 5_000);
    await proxy.deregister('a', 5_000);
    expect(performance.now() - startedAt).toBeLessThan(100);
    expect(proxy.targets()).toEqual([]);
    expect(proxy.draining()).toEqual([]);
  });

  it('keeps serving when a target dies abruptly while in rotation', async () => {
    const a = await startUpstream(resources, 'a');
    const b = await startUpstream(resources, 'b');
    const proxy = await proxyFor();
    proxy.register(a.target);
    proxy.register(b.target);
    const load = loadThrough(proxy);
    await until(() => (load.snapshot().servedBy.a ?? 0) >= 50, 'a serves', 3_000);

    await a.kill();
    const served = load.snapshot().served;
    await until(() => load.snapshot().served >= served + 300, 'b serves alone', 3_000);
    // Responses a sent before it died may still be counted above; none comes after.
    const servedByA = load.snapshot().servedBy.a;
    const later = load.snapshot().served;
    await until(() => load.snapshot().served >= later + 100, 'b still serves alone', 3_000);
    // A GET on its own is replayed on b too.
    const reply = await send(proxy.url);
    expect(reply.status).toBe(200);
    expect(reply.headers[TARGET_HEADER]).toBe('b');

    const report = await load.stop();
    expect(report.firstFailures).toEqual([]);
    expect(report.errors).toBe(0);
    expect(report.servedBy.a).toBe(servedByA);
    expect(report.servedBy.b).toBeGreaterThan(300);
    expect(proxy.targets()).toEqual(['a', 'b']);
  });

  it('cuts the client connection when the target fails after its response began', async () => {
    const a = await startUpstream(resources, 'a', (req, res) => {
      if (req.url !== '/broken') return void res.end('fine');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const proxy = await proxyFor();
    proxy.register(a.target);

    const error = await rejection(send(proxy.url, { path: '/broken' }));
    expect(error.message).toMatch(/aborted|socket hang up/);
    await until(() => proxy.inFlight() === 0, 'the broken request leaves the books');
    expect((await send(proxy.url)).body).toBe('fine');
  });

  it('survives clients that hang up early and malformed requests', async () => {
    const a = await startUpstream(resources, 'a');
    const proxy = await proxyFor();
    proxy.register(a.target);

    const req = http.get(new URL('/slow?ms=1000', proxy.url), { agent: false });
    req.on('error', () => undefined);
    await until(() => proxy.inFlight('a') === 1, 'the slow request reaches the target');
    req.destroy();
    // The target is released as soon as the client left, not when it would have answered.
    await until(() => proxy.inFlight('a') === 0, 'the abandoned request leaves the books', 500);

    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(proxy.port, '127.0.0.1', () =>
        socket.write('NOT HTTP AT ALL\r\n\r\n'),
      );
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (data += chunk));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request/);

    expect((await send(proxy.url)).status).toBe(200);
  });
});

describe('http proxy: stats', () => {
  it('counts nothing unusual during a clean atomic switch under load', async () => {
    const { upstreams, proxy } = await releasesAB();
    const [a1, a2] = upstreams;
    expect(proxy.stats()).toEqual({
      requests: 0,
      retried: 0,
      upstreamFailures: 0,
      failuresByTarget: {},
      answered: {},
    });
    // The right order: new release in, old release out of rotation and drained, then stopped.
    const load = await serveAThenB(proxy, upstreams);
    await Promise.all([proxy.deregister('a1', 2_000), proxy.deregister('a2', 2_000)]);
    await Promise.all([a1!.kill(), a2!.kill()]);
    const served = load.snapshot().served;
    await until(() => load.snapshot().served >= served + 100, 'release B serves alone', 3_000);

    const report = await load.stop();
    expect(report.errors).toBe(0);
    expect(proxy.stats()).toEqual({
      requests: report.requests,
      retried: 0,
      upstreamFailures: 0,
      failuresByTarget: {},
      answered: { '200': report.requests },
    });
  });

  it('shows the retries that hid targets stopped while still in rotation, though clients saw only 200s', async () => {
    const { upstreams, proxy } = await releasesAB();
    const [a1, a2] = upstreams;
    // The wrong order: release A is stopped abruptly before it leaves the rotation.
    const load = await serveAThenB(proxy, upstreams);
    await Promise.all([a1!.kill(), a2!.kill()]);
    const served = load.snapshot().served;
    await until(() => load.snapshot().served >= served + 300, 'B serves with A dead', 3_000);
    await Promise.all([proxy.deregister('a1', 2_000), proxy.deregister('a2', 2_000)]);

    const report = await load.stop();
    // What the client sees: nothing wrong.
    expect(report.firstFailures).toEqual([]);
    expect(report.errors).toBe(0);
    // What the proxy had to hide.
    const stats = proxy.stats();
    expect(stats.requests).toBe(report.requests);
    expect(stats.answered).toEqual({ '200': report.requests });
    expect(stats.upstreamFailures).toBeGreaterThan(0);
    expect(stats.retried).toBeGreaterThan(0);
    // Each failed attempt on A was replayed on B, which never failed.
    expect(stats.retried).toBe(stats.upstreamFailures);
    expect(Object.keys(stats.failuresByTarget).sort()).toEqual(['a1', 'a2']);
    expect(stats.failuresByTarget.a1! + stats.failuresByTarget.a2!).toBe(stats.upstreamFailures);
  });

  it('counts one retried request exactly, and names the target that failed', async () => {
    const a = await startUpstream(resources, 'a');
    const b = await startUpstream(resources, 'b');
    const proxy = await proxyFor();
    proxy.register(a.target);
    proxy.register(b.target);
    expect((await send(proxy.url)).headers[TARGET_HEADER]).toBe('a');
    expect((await send(proxy.url)).headers[TARGET_HEADER]).toBe('b');

    // a is closed abruptly while in rotation, and round-robin sends the next request to it first.
    await a.kill();
    const reply = await send(proxy.url);
    expect(reply.status).toBe(200);
    expect(reply.headers[TARGET_HEADER]).toBe('b');
    expect(proxy.stats()).toEqual({
      requests: 3,
      retried: 1,
      upstreamFailures: 1,
      failuresByTarget: { a: 1 },
      answered: { '200': 3 },
    });
  });

  it('counts 503, 502, 504 and passed-through statuses in answered, and returns a copy', async () => {
    const proxy = await proxyFor({ upstreamTimeoutMs: 150 });
    expect((await send(proxy.url)).status).toBe(503);

    proxy.register({ id: 'dead-1', port: await closedPort() });
    proxy.register({ id: 'dead-2', port: await closedPort() });
    expect((await send(proxy.url)).status).toBe(502);
    expect(proxy.stats()).toEqual({
      requests: 2,
      // Tried on one dead target, replayed once on the other, then a 502.
      retried: 1,
      upstreamFailures: 2,
      failuresByTarget: { 'dead-1': 1, 'dead-2': 1 },
      answered: { '502': 1, '503': 1 },
    });
    // A body cannot be replayed: a failure, no retry.
    expect((await send(proxy.url, { method: 'POST', path: '/echo', body: 'x' })).status).toBe(502);

    await proxy.deregister('dead-1', 0);
    await proxy.deregister('dead-2', 0);
    const a = await startUpstream(resources, 'a');
    proxy.register(a.target);
    expect((await send(proxy.url, { path: '/status/418' })).status).toBe(418);
    expect((await send(proxy.url, { path: '/status/503' })).status).toBe(503);
    expect((await send(proxy.url, { path: '/hang' })).status).toBe(504);

    const stats = proxy.stats();
    expect(stats).toMatchObject({
      requests: 6,
      retried: 1,
      // The timed-out attempt failed before any response byte too.
      upstreamFailures: 4,
      answered: { '418': 1, '502': 2, '503': 2, '504': 1 },
    });
    const { a: timedOut, ...dead } = stats.failuresByTarget;
    expect(timedOut).toBe(1);
    expect(Object.keys(dead).sort()).toEqual(['dead-1', 'dead-2']);
    expect(dead['dead-1']! + dead['dead-2']!).toBe(3);
    stats.answered['200'] = 99;
    stats.failuresByTarget.a = 99;
    stats.requests = 99;
    expect(proxy.stats().answered['200']).toBeUndefined();
    expect(proxy.stats().failuresByTarget.a).toBe(1);
    expect(proxy.stats().requests).toBe(6);
  });
});

describe('http proxy: close', () => {
  it('closes with requests in flight, ends pending drains and frees its port', async () => {
    const a = await startUpstream(resources, 'a');
    const proxy = await startHttpProxy();
    resources.add(() => proxy.close());
    proxy.register(a.target);
    const hanging = send(proxy.url, { path: '/hang' });
    await until(() => proxy.inFlight('a') === 1, 'the hanging request reaches the target');
    const drained = proxy.deregister('a', 60_000);

    const startedAt = performance.now();
    await proxy.close();
    await drained;
    expect(performance.now() - startedAt).toBeLessThan(1_000);
    expect((await rejection(hanging)).message).toMatch(/socket hang up|ECONNRESET/);
    expect(() => proxy.register(a.target)).toThrow(
      expect.objectContaining({ code: 'PROXY_CLOSED' }),
    );
    await proxy.close();

    // Nothing listens any more, and the port can be bound again.
    expect(((await rejection(send(proxy.url))) as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(proxy.port, '127.0.0.1', () => resolve());
    });
    await new Promise((resolve) => again.close(resolve));
  });

  it('fails to start on a port in use with a typed error', async () => {
    const proxy = await proxyFor();
    const error = await rejection(startHttpProxy({ port: proxy.port }));
    expect(error).toMatchObject({ code: 'PROXY_LISTEN_FAILED' });
    expect(error.message).toMatch(/EADDRINUSE/);
  });
});
