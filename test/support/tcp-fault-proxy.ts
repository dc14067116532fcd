import { createServer, connect, type Socket } from 'node:net';

/**
 * What the proxy does to the connection that carries the next request matching an armed fault:
 * - `reset_before`: the request never reaches the server; the connection is reset (RST).
 * - `reset_after`: the request is passed on, and the connection is reset at once, while the
 *   server runs it: in the middle of a query, or of a commit (it may or may not commit).
 * - `lose_answer`: the request is passed on, and the server's answer to it is thrown away and
 *   the connection reset: the server finished (committed) and the client never hears of it.
 */
export type RequestFault = 'reset_before' | 'reset_after' | 'lose_answer';

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
   * Arms `fault` for the next request (a chunk the client sends) whose bytes contain `match`
   * (each of them, when several; any request when omitted); resolves with the request's text once it was applied. Requests
   * are PostgreSQL's wire messages: with prepared statements, the query text is sent once per
   * connection, but the bound values (a stream name, an event's JSON) are in every request.
   */
  onNextRequest(fault: RequestFault, match?: string | readonly string[]): Promise<string>;
  /** Resets every open connection (RST on both sides), as a crashed middlebox would. */
  resetAll(): number;
  /** While on, new connections are reset as soon as they are made (a refused connection). */
  refuse(on: boolean): void;
  close(): Promise<void>;
}

interface Armed {
  fault: RequestFault;
  match: readonly string[];
  applied: (request: string) => void;
}

/** A TCP proxy between a client and a server that loses answers and resets on command. */
export const startFaultProxy = async (target: {
  host: string;
  port: number;
}): Promise<FaultProxy> => {
  let armed = false;
  let cut = 0;
  let refusing = false;
  const faults: Armed[] = [];
  const sockets = new Set<Socket>();
  const reset = (...pair: Socket[]) => {
    for (const s of pair) if (!s.destroyed) s.resetAndDestroy();
  };
  const server = createServer((client) => {
    if (refusing) {
      client.on('error', () => undefined);
      reset(client);
      return;
    }
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    // An answer to lose on this connection: the request was passed on, its answer is awaited.
    let losing: (() => void) | undefined;
    client.on('data', (chunk) => {
      const text = chunk.toString('latin1');
      const index = faults.findIndex((f) => f.match.every((m) => text.includes(m)));
      if (index < 0) {
        upstream.write(chunk);
        return;
      }
      const [fault] = faults.splice(index, 1) as [Armed];
      if (fault.fault === 'reset_before') {
        reset(client, upstream);
        fault.applied(text);
      } else if (fault.fault === 'reset_after') {
        // Reset once the request is on the wire to the server, not before.
        upstream.write(chunk, () => {
          reset(client, upstream);
          fault.applied(text);
        });
      } else {
        losing = () => fault.applied(text);
        upstream.write(chunk);
      }
    });
    upstream.on('data', (chunk) => {
      if (losing) {
        const applied = losing;
        losing = undefined;
        reset(client, upstream);
        applied();
        return;
      }
      if (armed) {
        armed = false;
        cut += 1;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      // The server went away before answering (a shutdown): that answer is lost all the same.
      losing?.();
      losing = undefined;
      client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
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
    resetAll: () => {
      const open = [...sockets];
      reset(...open);
      return open.length / 2;
    },
    refuse: (on) => {
      refusing = on;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      faults.length = 0;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
