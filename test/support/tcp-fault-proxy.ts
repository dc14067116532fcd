import { createServer, connect, type Socket } from 'node:net';

/**
 * What the proxy does to the connection that carries the next request matching an armed fault:
 * - `reset_before`: the request never reaches the server; the connection is reset (RST).
 * - `reset_after`: the request is passed on, and the connection is reset at once, while the
 *   server runs it: in the middle of a query, or of a commit (it may or may not commit).
 * - `lose_answer`: the request is passed on, and the server's answer to it is thrown away and
 *   the connection reset: the server finished (committed) and the client never hears of it.
 * - `black_hole_before`: the proxy black-holes everything (as `blackHole()`) as the request
 *   comes: it is held, not passed on, while the client waits for its answer.
 * - `black_hole_after`: the request is passed on, then everything is black-holed: the server
 *   runs it (an append commits), its answer is held, and the client hears nothing.
 */
export type RequestFault =
  'reset_before' | 'reset_after' | 'lose_answer' | 'black_hole_before' | 'black_hole_after';

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
  /**
   * Nothing passes any more on the connections open now, while new ones go through: the old
   * primary of a failover vanished without a reset, and the name leads to the new one. Until
   * `restore()` (which delivers what was held) or `reset()`.
   */
  partitionOpen(): void;
  /** Back to passing everything through (listening again after `refuse()`). */
  restore(): Promise<void>;
  /**
   * Arms `fault` for the next request (a chunk the client sends) whose bytes contain `match`
   * (each of them, when several; any request when omitted); resolves with the request's text
   * once it was applied. Requests are PostgreSQL's wire messages: with prepared statements, the
   * query text is sent once per connection, but the bound values (a stream name, an event's
   * JSON) are in every request.
   */
  onNextRequest(fault: RequestFault, match?: string | readonly string[]): Promise<string>;
  /** Connections accepted since the proxy started. */
  readonly accepted: number;
  close(): Promise<void>;
}

type Mode = 'pass' | 'refuse' | 'reset' | 'blackhole';

interface Armed {
  fault: RequestFault;
  match: readonly string[];
  applied: (request: string) => void;
}

interface Pair {
  client: Socket;
  upstream?: Socket;
  /** The answer to lose on this connection: its request was passed on, its answer is awaited. */
  losing?: () => void;
  /** Partitioned by `partitionOpen()`: nothing passes on this connection. */
  holed?: boolean;
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
  const faults: Armed[] = [];

  const kill = (pair: Pair) => {
    pairs.delete(pair);
    // RST rather than FIN: the peer sees ECONNRESET, as when a server or a middlebox drops it.
    for (const s of [pair.client, pair.upstream]) if (s && !s.destroyed) s.resetAndDestroy();
  };

  /** Passes a request on to the server, unless an armed fault matches it. */
  const send = (pair: Pair, upstream: Socket, chunk: Buffer) => {
    const text = chunk.toString('latin1');
    const index = faults.findIndex((f) => f.match.every((m) => text.includes(m)));
    if (index < 0) {
      upstream.write(chunk);
      return;
    }
    const [fault] = faults.splice(index, 1) as [Armed];
    if (fault.fault === 'reset_before') {
      kill(pair);
      fault.applied(text);
    } else if (fault.fault === 'black_hole_before') {
      mode = 'blackhole';
      pair.up.push(chunk);
      fault.applied(text);
    } else if (fault.fault === 'black_hole_after') {
      // Black-holed as the request leaves, before the server can answer it.
      upstream.write(chunk);
      mode = 'blackhole';
      fault.applied(text);
    } else if (fault.fault === 'reset_after') {
      // Reset once the request is on the wire to the server, not before.
      upstream.write(chunk, () => {
        kill(pair);
        fault.applied(text);
      });
    } else {
      pair.losing = () => fault.applied(text);
      upstream.write(chunk);
    }
  };

  const toServer = (pair: Pair, chunk: Buffer) => {
    if (mode === 'blackhole' || pair.holed || !pair.upstream) pair.up.push(chunk);
    else send(pair, pair.upstream, chunk);
  };

  const openUpstream = (pair: Pair) => {
    const upstream = connect(target.port, target.host);
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('data', (chunk: Buffer) => {
      if (mode === 'blackhole' || pair.holed) {
        pair.down.push(chunk);
        return;
      }
      if (pair.losing) {
        const applied = pair.losing;
        pair.losing = undefined;
        kill(pair);
        applied();
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
      // The server went away before answering (a shutdown): that answer is lost all the same.
      pair.losing?.();
      pair.losing = undefined;
      pairs.delete(pair);
      pair.client.destroy();
    });
    for (const chunk of pair.up.splice(0)) send(pair, upstream, chunk);
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
    onNextRequest: (fault, match) =>
      new Promise<string>((applied) =>
        faults.push({
          fault,
          match: match === undefined ? [] : typeof match === 'string' ? [match] : match,
          applied,
        }),
      ),
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
    partitionOpen: () => {
      for (const pair of pairs) pair.holed = true;
    },
    restore: async () => {
      const was = mode;
      mode = 'pass';
      if (was === 'refuse') await listen(port);
      for (const pair of [...pairs]) {
        pair.holed = false;
        if (!pair.upstream) openUpstream(pair);
        else for (const chunk of pair.up.splice(0)) pair.upstream.write(chunk);
        for (const chunk of pair.down.splice(0)) pair.client.write(chunk);
      }
    },
    close: async () => {
      faults.length = 0;
      for (const pair of [...pairs]) kill(pair);
      await new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
      });
    },
  };
};
