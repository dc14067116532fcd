import { probePostgres } from './postgres-probe.js';

export interface ConnectionWindow {
  /** Total time the database refused connections, first failed attempt to next success. */
  refusedMs: number;
  /** How many separate stretches of refusals there were. */
  windows: number;
  attempts: number;
}

const ATTEMPT_TIMEOUT_MS = 500;

export interface ConnectionWatch {
  /** Resolves once a session succeeded: refusals before it are not counted. */
  ready(timeoutMs?: number): Promise<void>;
  /** Resolves once a session succeeds after every refusal so far. */
  settled(timeoutMs?: number): Promise<void>;
  /** Stops the loop; a refusal still going on counts up to now. */
  stop(): Promise<ConnectionWindow>;
}

/**
 * A client reconnecting in a loop to the PostgreSQL server on a loopback port (a new session,
 * `SELECT 1`, every ~10 ms) that measures when the database refuses it: a redeploy's downtime
 * as the database's users see it.
 */
export const watchConnections = (port: number, pauseMs = 10): ConnectionWatch => {
  const url = `127.0.0.1:${port}`;
  let running = true;
  let attempts = 0;
  let refusedMs = 0;
  let windows = 0;
  let failingSince: number | undefined;
  let succeeded = false;
  const loop = (async () => {
    while (running) {
      const at = performance.now();
      const ok = await probePostgres(port, ATTEMPT_TIMEOUT_MS);
      attempts++;
      if (ok) {
        succeeded = true;
        if (failingSince !== undefined) {
          refusedMs += at - failingSince;
          failingSince = undefined;
        }
      } else if (succeeded && failingSince === undefined) {
        failingSince = at;
        windows++;
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    ready: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!succeeded) {
        if (Date.now() > deadline) throw new Error(`${url} never accepted a connection`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    settled: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      const seen = attempts;
      while (failingSince !== undefined || attempts === seen) {
        if (Date.now() > deadline) throw new Error(`${url} did not accept connections again`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: async (): Promise<ConnectionWindow> => {
      running = false;
      await loop;
      if (failingSince !== undefined) refusedMs += performance.now() - failingSince;
      failingSince = undefined;
      return { refusedMs: Math.round(refusedMs), windows, attempts };
    },
  };
};
