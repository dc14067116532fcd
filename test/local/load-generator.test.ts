import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { TARGET_HEADER } from '../../src/adapters/local/http-proxy.js';
import { startLoad, type LoadOptions } from '../../src/adapters/local/load-generator.js';
import { closedPort, createResources, startUpstream, until } from './upstreams.js';

const resources = createResources();
afterEach(() => resources.run());

const load = (options: LoadOptions) => {
  const generator = startLoad(options);
  resources.add(() => generator.stop());
  return generator;
};

const url = (port: number) => `http://127.0.0.1:${port}`;

describe('load generator', () => {
  it('counts 200s as served, without a target header when none is sent', async () => {
    const a = await startUpstream(resources, 'a');
    const generator = load({ url: url(a.port), path: '/ping', concurrency: 3 });
    await until(() => generator.snapshot().served >= 50, 'requests are served');

    const report = await generator.stop();
    expect(report.served).toBe(report.requests);
    expect(report.errors).toBe(0);
    expect(report.failures).toEqual({});
    expect(report.servedBy).toEqual({});
    expect(report.durationMs).toBeGreaterThan(0);
    // Every request it counted reached the upstream, on the path asked for.
    expect(a.received.length).toBe(report.requests);
    expect(new Set(a.received.map((r) => r.url))).toEqual(new Set(['/ping']));
    // Keep-alive: the load reuses at most `concurrency` connections.
    expect(new Set(a.received.map((r) => r.headers.connection))).toEqual(new Set(['keep-alive']));
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])(
    'counts the requests a target named %s served',
    async (name) => {
      const a = await startUpstream(resources, 'a', (_req, res) => {
        res.setHeader(TARGET_HEADER, name);
        res.end('ok');
      });
      const generator = load({ url: url(a.port), concurrency: 2 });
      await until(() => generator.snapshot().served >= 10, 'requests are served');

      const report = await generator.stop();
      expect(report.served).toBe(report.requests);
      expect(Object.getPrototypeOf(report.servedBy)).toBe(Object.prototype);
      expect(JSON.stringify(report.servedBy)).toBe(JSON.stringify({ [name]: report.served }));
    },
  );

  it('counts refused connections when nothing listens', async () => {
    const generator = load({ url: url(await closedPort()), concurrency: 2 });
    await until(() => generator.snapshot().requests >= 20, 'requests are refused');

    const report = await generator.stop();
    expect(report.served).toBe(0);
    expect(report.errors).toBe(report.requests);
    expect(report.refused).toBe(report.requests);
    expect(report.failures).toEqual({ ECONNREFUSED: report.requests });
    expect(report.firstFailures).toHaveLength(10);
    expect(report.firstFailures[0]).toMatch(/^\d{4}-\d\d-\d\dT.*Z \(\+\d+ ms\) ECONNREFUSED: /);
  });

  it('counts non-200 statuses by status', async () => {
    const a = await startUpstream(resources, 'a');
    const generator = load({ url: url(a.port), path: '/status/500', concurrency: 2 });
    await until(() => generator.snapshot().requests >= 20, 'requests fail');

    const report = await generator.stop();
    expect(report.served).toBe(0);
    expect(report.refused).toBe(0);
    expect(report.errors).toBe(report.requests);
    expect(report.failures).toEqual({ 'status 500': report.requests });
    expect(report.firstFailures[0]).toMatch(/status 500: served by \(no target header\)$/);
  });

  it('lets in-flight requests finish on stop, and counts them', async () => {
    const a = await startUpstream(resources, 'a');
    const generator = load({ url: url(a.port), path: '/slow?ms=200', concurrency: 3 });
    await until(() => a.received.length === 3, 'three requests in flight');
    expect(generator.snapshot().requests).toBe(0);

    const startedAt = performance.now();
    const report = await generator.stop();
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(100);
    expect(report.requests).toBe(3);
    expect(report.served).toBe(3);
    // Stopped means stopped: no request was sent after stop().
    expect(a.received.length).toBe(3);
    expect(await generator.stop()).toEqual(report);
  });

  it('fails a request that takes longer than timeoutMs as a timeout', async () => {
    const a = await startUpstream(resources, 'a');
    const generator = load({ url: url(a.port), path: '/hang', concurrency: 2, timeoutMs: 100 });
    await until(() => generator.snapshot().requests >= 2, 'requests time out');

    const startedAt = performance.now();
    const report = await generator.stop();
    expect(performance.now() - startedAt).toBeLessThan(500);
    expect(report.served).toBe(0);
    expect(report.failures).toEqual({ timeout: report.requests });
  });

  it('waits pauseMs between the requests of a worker, and stop() cuts the pause short', async () => {
    const a = await startUpstream(resources, 'a');
    const generator = load({ url: url(a.port), concurrency: 1, pauseMs: 50 });
    await sleep(300);
    const stopping = performance.now();
    const report = await generator.stop();
    expect(performance.now() - stopping).toBeLessThan(40);
    expect(report.requests).toBeGreaterThanOrEqual(3);
    expect(report.requests).toBeLessThanOrEqual(7);
    expect(report.errors).toBe(0);
  });

  it('rejects invalid options with a typed error', () => {
    expect(() => startLoad({ url: 'not a url' })).toThrow(
      expect.objectContaining({ code: 'INVALID_LOAD_OPTIONS' }),
    );
    expect(() => startLoad({ url: 'http://127.0.0.1:1', concurrency: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_LOAD_OPTIONS' }),
    );
  });
});
