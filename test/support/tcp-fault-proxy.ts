import { createServer, connect, type Socket } from 'node:net';

export interface FaultProxy {
  /** The port to connect to instead of the server's. */
  port: number;
  /**
   * The next answer the server sends (on any connection) is thrown away and that connection is
   * cut: the request went through, its answer never comes back (a COMMIT whose acknowledgement
   * was lost).
   */
  cutAfterNextAnswer(): void;
  /** How many answers were thrown away so. */
  readonly cut: number;
  /**
   * The server is gone: the port stops listening (new connections are refused, ECONNREFUSED)
   * and the open connections are reset. Until `restore()`.
   */
  refuse(): Promise<void>;
  /**
   * Every open connection is reset (ECONNRESET), and so is every new one, until `restore()`:
   * a middlebox or a server that drops connections as they come.
   */
  reset(): void;
  /**
   * Nothing passes either way, on open connections and on new ones (accepted, never answered),
   * until `restore()`: a network partition. What was sent meanwhile is held, and delivered at
   * `restore()` as TCP's retransmissions would; call `reset()` first for a partition that
   * outlived the connections (a firewall that forgot them).
   */
  blackHole(): void;
  /** Back to passing everything through (listening again after `refuse()`). */
  restore(): Promise<void>;
  /** Connections accepted since the proxy started. */
  readonly accepted: number;
  close(): Promise<void>;
}

type Mode = 'pass' | 'refuse' | 'reset' | 'blackhole';

interface Pair {
  client: Socket;
  upstream?: Socket;
  /** Held during a black hole: client to server, server to client. */
  up: Buffer[];
  down: Buffer[];
}

/** A TCP proxy between a client and a server that refuses, resets, black-holes or loses answers on command. */
export const startFaultProxy = async (target: {
  host: string;
  port: number;
}): Promise<FaultProxy> => {
  let armed = false;
  let cut = 0;
  let accepted = 0;
  let mode: Mode = 'pass';
  const pairs = new Set<Pair>();

  const kill = (pair: Pair) => {
    pairs.delete(pair);
    // RST rather than FIN: the peer sees ECONNRESET, as when a server or a middlebox drops it.
    for (const s of [pair.client, pair.upstream]) if (s && !s.destroyed) s.resetAndDestroy();
  };

  const toServer = (pair: Pair, chunk: Buffer) => {
    if (mode === 'blackhole' || !pair.upstream) pair.up.push(chunk);
    else pair.upstream.write(chunk);
  };

  const openUpstream = (pair: Pair) => {
    const upstream = connect(target.port, target.host);
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('data', (chunk: Buffer) => {
      if (mode === 'blackhole') {
        pair.down.push(chunk);
        return;
      }
      if (armed) {
        armed = false;
        cut += 1;
        kill(pair);
        return;
      }
      pair.client.write(chunk);
    });
    upstream.on('close', () => {
      pairs.delete(pair);
      pair.client.destroy();
    });
    for (const chunk of pair.up.splice(0)) upstream.write(chunk);
  };

  const server = createServer((client) => {
    accepted += 1;
    client.on('error', () => undefined);
    if (mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, up: [], down: [] };
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => toServer(pair, chunk));
    client.on('close', () => {
      pairs.delete(pair);
      pair.upstream?.destroy();
    });
    // In a black hole the connection is accepted and nothing more: the server is not reached.
    if (mode !== 'blackhole') openUpstream(pair);
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const port = address.port;

  return {
    port,
    cutAfterNextAnswer: () => {
      armed = true;
    },
    get cut() {
      return cut;
    },
    get accepted() {
      return accepted;
    },
    refuse: async () => {
      mode = 'refuse';
      for (const pair of [...pairs]) kill(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    reset: () => {
      mode = 'reset';
      for (const pair of [...pairs]) kill(pair);
    },
    blackHole: () => {
      mode = 'blackhole';
    },
    restore: async () => {
      const was = mode;
      mode = 'pass';
      if (was === 'refuse') await listen(port);
      for (const pair of [...pairs]) {
        if (!pair.upstream) openUpstream(pair);
        else for (const chunk of pair.up.splice(0)) pair.upstream.write(chunk);
        for (const chunk of pair.down.splice(0)) pair.client.write(chunk);
      }
    },
    close: async () => {
      for (const pair of [...pairs]) kill(pair);
      await new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
      });
    },
  };
};
