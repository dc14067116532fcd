/**
 * The PostgreSQL pool's silence timeout (queryTimeoutMs) counts the calls in flight itself: it
 * reads no private field of pg's. The clients here have pg's private fields as throwing getters,
 * so a count taken from pg's internals (its active query, its query queue) would fail them; the
 * socket is a stand-in whose 'timeout' event each test sends when it wants, so no test waits.
 */
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresQueryTimeoutError } from '../../src/adapters/postgres/index.js';
import { closeWhenSilent, openPool } from '../../src/adapters/postgres/connection.js';

// What pg 8.x keeps inside its Client: none of it may be read.
const PRIVATE_FIELDS = [
  '_getActiveQuery',
  'activeQuery',
  '_activeQuery',
  '_queryQueue',
  'queryQueue',
  '_sentQueryQueue',
  '_queryable',
  '_connected',
  '_ending',
  'connection',
];

type Callback = (error: Error | null, result?: unknown) => void;
type Settle = (outcome: 'answer' | 'error') => void;

/**
 * A client like pg's: `query` answers by a promise, a callback (last argument, or `callback` in
 * the config) or a submittable's events. Each call waits until the test settles it.
 */
const privateless = () => {
  const pending: Settle[] = [];
  const client = {
    query: (...args: unknown[]): unknown => {
      const last = args.at(-1);
      const first = args[0] as { callback?: Callback; submit?: unknown } & Partial<EventEmitter>;
      if (typeof last === 'function') {
        pending.push((o) =>
          o === 'answer' ? (last as Callback)(null, {}) : (last as Callback)(new Error('no')),
        );
        return undefined;
      }
      if (typeof first?.submit === 'function') {
        pending.push((o) =>
          o === 'answer' ? first.emit!('end') : first.emit!('error', new Error('no')),
        );
        return first;
      }
      if (typeof first?.callback === 'function') {
        const callback = first.callback;
        pending.push((o) => (o === 'answer' ? callback(null, {}) : callback(new Error('no'))));
        return undefined;
      }
      return new Promise((resolve, reject) => {
        pending.push((o) => (o === 'answer' ? resolve({}) : reject(new Error('no'))));
      });
    },
  };
  for (const field of PRIVATE_FIELDS) {
    Object.defineProperty(client, field, {
      get: () => {
        throw new Error(`pg's private field ${field} was read`);
      },
    });
  }
  return { client, pending };
};

/** A socket that only records its timeout and whether it was destroyed. */
const silentSocket = () => {
  const socket = Object.assign(new EventEmitter(), {
    timeoutMs: undefined as number | undefined,
    destroyedWith: undefined as Error | undefined,
    setTimeout(ms: number) {
      socket.timeoutMs = ms;
    },
    destroy(error?: Error) {
      socket.destroyedWith = error ?? new Error('destroyed');
    },
  });
  return socket;
};

const watched = () => {
  const { client, pending } = privateless();
  const socket = silentSocket();
  const { inFlight } = closeWhenSilent(
    client,
    socket,
    600,
    () => new PostgresQueryTimeoutError('db:5432/app', 600),
  );
  return { client, pending, socket, inFlight };
};

const CALL_FORMS = ['promise', 'callback', 'config callback', 'submittable'] as const;
type CallForm = (typeof CALL_FORMS)[number];

/** One call on `client` in the given form; its promise's rejection is handled here. */
const call = (client: { query: (...args: never[]) => unknown }, form: CallForm) => {
  const query = client.query as (...args: unknown[]) => unknown;
  switch (form) {
    case 'promise':
      void (query('SELECT 1') as Promise<unknown>).catch(() => undefined);
      return;
    case 'callback':
      query('SELECT $1', [1], () => undefined);
      return;
    case 'config callback':
      query({ text: 'SELECT 1', callback: () => undefined });
      return;
    case 'submittable':
      query(Object.assign(new EventEmitter(), { submit: () => undefined }));
      return;
  }
};

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('the silence timeout of a PostgreSQL connection (queryTimeoutMs)', () => {
  it.each(CALL_FORMS)(
    'closes the connection of a silent %s call, with no private field of pg read',
    async (form) => {
      const { client, socket } = watched();
      expect(socket.timeoutMs).toBe(600);
      call(client, form);
      socket.emit('timeout');
      expect(socket.destroyedWith).toBeInstanceOf(PostgresQueryTimeoutError);
      expect(socket.destroyedWith).toMatchObject({ code: 'STORE_TIMEOUT', silenceMs: 600 });
    },
  );

  it('leaves an idle connection open, before any call and once every call has its answer', async () => {
    const { client, pending, socket } = watched();
    socket.emit('timeout');
    expect(socket.destroyedWith).toBeUndefined();
    for (const form of CALL_FORMS) call(client, form);
    pending.splice(0).forEach((settle, i) => settle(i % 2 === 0 ? 'answer' : 'error'));
    await flush();
    socket.emit('timeout');
    expect(socket.destroyedWith).toBeUndefined();
  });

  it('does not count a call that throws as it is made', () => {
    const socket = silentSocket();
    const client = {
      query: () => {
        throw new TypeError('Client was passed a null or undefined query');
      },
    };
    const { inFlight } = closeWhenSilent(client, socket, 600, () => new Error('silent'));
    expect(() => (client.query as () => unknown)()).toThrow(TypeError);
    expect(inFlight()).toBe(0);
    socket.emit('timeout');
    expect(socket.destroyedWith).toBeUndefined();
  });

  it('counts exactly the calls waiting for their answer, whatever their forms and the order answers come in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            form: fc.constantFrom(...CALL_FORMS),
            outcome: fc.constantFrom('answer' as const, 'error' as const),
          }),
          { maxLength: 12 },
        ),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (calls, order) => {
          const { client, pending, socket, inFlight } = watched();
          for (const c of calls) call(client, c.form);
          // Each call's own settle, at the index it was made at.
          const own = pending.splice(0);
          const left = own.map((_, i) => i);
          expect(inFlight()).toBe(calls.length);
          for (const pick of order) {
            if (left.length === 0) break;
            const [i] = left.splice(pick % left.length, 1);
            own[i!]!(calls[i!]!.outcome);
            await flush();
            expect(inFlight()).toBe(left.length);
          }
          socket.emit('timeout');
          expect(socket.destroyedWith !== undefined).toBe(left.length > 0);
        },
      ),
    );
  });
});

/**
 * A server that says just enough of PostgreSQL's protocol to let pg connect (authentication
 * ok, ready for query), then never answers anything: a statement that hangs.
 */
const hangingServer = async (): Promise<Server & { port: number; stop: () => Promise<void> }> => {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', () => {
      const ok = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]); // 'R' AuthenticationOk
      const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]); // 'Z' ReadyForQuery, idle
      socket.write(Buffer.concat([ok, ready]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Its connections cut as it stops: else the pool's end would wait on a call that hangs.
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return Object.assign(server, { port: (server.address() as { port: number }).port, stop });
};

const opened: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((close) => close()));
});

describe('the pool a PostgreSQL store opens, on a server that hangs', () => {
  // Bounded so that a pool that never times out fails here, instead of at the 60 s default.
  it(
    'fails a call the server never answers with PostgresQueryTimeoutError, on the clients it makes',
    { timeout: 10_000 },
    async () => {
      const server = await hangingServer();
      opened.push(() => server.stop());
      const handle = openPool(
        { connectionString: `postgres://someone@127.0.0.1:${server.port}/app` },
        { queryTimeoutMs: 100 },
      );
      opened.push(() => handle.end());
      const error = await handle.pool.query('SELECT 1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PostgresQueryTimeoutError);
      expect(error).toMatchObject({ code: 'STORE_TIMEOUT', silenceMs: 100 });
      expect((error as Error).message).toContain(`127.0.0.1:${server.port}/app`);
    },
  );
});
