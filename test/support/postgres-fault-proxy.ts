/**
 * A PostgreSQL server behind the TCP fault proxy (test/support/tcp-fault-proxy.ts), for the
 * outage tests: the black hole, the read side's outages, a lost acknowledgement.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startFaultProxy, type FaultProxy } from './tcp-fault-proxy.js';

/** A fault proxy in front of the server that `url` names. */
export const startProxyTo = (url: string): Promise<FaultProxy> => {
  const server = new URL(url);
  return startFaultProxy({ host: server.hostname, port: Number(server.port || 5432) });
};

/** `url` (user, password, database, parameters kept), through the proxy listening on `port`. */
export const urlVia = (url: string, port: number): string => {
  const via = new URL(url);
  via.hostname = '127.0.0.1';
  via.port = String(port);
  return via.toString();
};

/**
 * One fault proxy for the tests of a file, in front of the server `url()` names: started before
 * them, healed after each (so that a test's fault never outlives it), closed after all.
 * `closeAfterEach` registers what a test opened (stores, pools, subscriptions), closed after the
 * proxy is healed, so that closing never waits on a black hole.
 *
 * @example
 * ```ts
 * const db = useTestDatabase();
 * const faults = useFaultProxy(() => db.url);
 * it('…', async () => {
 *   const store = createPostgresEventStore({ connectionString: faults.viaProxy() });
 *   faults.closeAfterEach(() => store.close());
 *   faults.proxy.blackHole();
 * });
 * ```
 */
export const useFaultProxy = (url: () => string) => {
  let proxy: FaultProxy | undefined;
  const closers: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    proxy = await startProxyTo(url());
  });
  afterEach(async () => {
    await proxy?.restore();
    await Promise.allSettled(closers.splice(0).map((close) => close()));
  });
  afterAll(async () => {
    await proxy?.close();
  });
  const started = (): FaultProxy => {
    if (!proxy) throw new Error('the fault proxy starts in beforeAll: use it inside a test');
    return proxy;
  };
  return {
    get proxy(): FaultProxy {
      return started();
    },
    /** The server's URL through the proxy. */
    viaProxy: (): string => urlVia(url(), started().port),
    closeAfterEach: (close: () => Promise<unknown>): void => {
      closers.push(close);
    },
  };
};
