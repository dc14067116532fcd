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
  close(): Promise<void>;
}

/** A TCP proxy between a client and a server that loses answers on command. */
export const startFaultProxy = async (target: {
  host: string;
  port: number;
}): Promise<FaultProxy> => {
  let armed = false;
  let cut = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
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
    upstream.on('close', () => client.destroy());
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
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
