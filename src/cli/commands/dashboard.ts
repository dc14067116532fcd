import { createDashboardServer } from '../../dashboard/server.js';
import { CliError, EXIT_OK } from '../cli-error.js';
import { println, type CliIo } from '../cli-io.js';
import { displayUrl, openStoreSession } from '../store-session.js';
import type { GlobalOptions } from './with-store.js';

export interface DashboardCommandOptions extends GlobalOptions {
  port?: string;
}

export const DEFAULT_DASHBOARD_PORT = '4480';

const portOf = (value: string | undefined): number => {
  const text = value ?? DEFAULT_DASHBOARD_PORT;
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(port) || port > 65_535) {
    throw new CliError(`--port '${text}' is not a port number (0 to 65535)`, {
      hint: 'for example --port 4480, or --port 0 for any free port',
    });
  }
  return port;
};

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The first stop signal received; `dispose` stops listening for them. */
const stopSignal = () => {
  let handler: (signal: NodeJS.Signals) => void = () => undefined;
  const dispose = () => {
    for (const s of STOP_SIGNALS) process.off(s, handler);
  };
  const received = new Promise<NodeJS.Signals>((resolve) => {
    handler = (signal) => {
      dispose();
      resolve(signal);
    };
    for (const s of STOP_SIGNALS) process.on(s, handler);
  });
  return { received, dispose };
};

/** Serves the dashboard on loopback until a stop signal, then closes it and the store. */
export const dashboardCommand = async (
  options: DashboardCommandOptions,
  io: CliIo,
): Promise<number> => {
  const port = portOf(options.port);
  // It reads; its one write, a cancel, is refused on a read-only file (STORE_READ_ONLY).
  const session = await openStoreSession(options, {
    command: 'dashboard',
    writes: false,
    warn: (text) => println(io.err, text),
    // A page waits for no store: while one is away the dashboard answers 503 + Retry-After.
    storeOutage: { maxMs: 0 },
  });
  try {
    const dashboard = createDashboardServer({
      session,
      onError: (error, req) =>
        println(
          io.err,
          `Error answering ${req.method} ${req.url}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        ),
    });
    // Listened for before the port opens: a signal then still closes cleanly.
    const stopped = stopSignal();
    let url: string;
    try {
      url = await dashboard.listen(port);
    } catch (error) {
      stopped.dispose();
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') {
        throw new CliError(
          `cannot listen on 127.0.0.1:${port}: ${code === 'EADDRINUSE' ? 'the port is taken' : 'permission denied'}`,
          {
            hint: 'pass another --port, or --port 0 for any free port',
            exitCode: 1,
          },
        );
      }
      throw error;
    }
    println(
      io.err,
      `Serving the dashboard of ${displayUrl(session.url)} at ${url} (its API: ${url}api; Ctrl-C to stop)`,
    );
    // One line either way: a script reads the first line of stdout and has the address.
    if (options.json) println(io.out, JSON.stringify({ url, store: displayUrl(session.url) }));
    else println(io.out, url);
    const signal = await stopped.received;
    println(io.err, `${signal}: closing the dashboard`);
    await dashboard.close();
    return EXIT_OK;
  } finally {
    await session.close();
  }
};
