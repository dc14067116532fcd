/**
 * A bounded HTTP load loop: the proof of zero downtime. Workers send GETs back to back through
 * an endpoint while a deploy runs, and the report says how many failed, how, and which target
 * served the others.
 */
import http from 'node:http';
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import { OpledgerError } from '../../domain/errors.js';
import { TARGET_HEADER } from './http-proxy.js';

export interface LoadReport {
  requests: number;
  /** Responses with status 200. */
  served: number;
  /** requests - served. */
  errors: number;
  /** ECONNREFUSED (also counted in failures). */
  refused: number;
  /** By kind: 'status 502', 'ECONNREFUSED', 'ECONNRESET', 'timeout', ...; they sum to errors. */
  failures: Record<string, number>;
  /** Up to 10 human-readable samples with a timestamp. */
  firstFailures: string[];
  durationMs: number;
  /** Counts by x-opledger-target header when present. */
  servedBy: Record<string, number>;
}

export interface LoadGenerator {
  /** Stops sending, lets the in-flight requests finish (they are counted), and reports. */
  stop(): Promise<LoadReport>;
  /** The report so far; the load goes on. */
  snapshot(): LoadReport;
}

export interface LoadOptions {
  url: string;
  /** Workers, each with at most one request in flight; 4 by default. */
  concurrency?: number;
  /** Resolved against url; the url's own path by default. */
  path?: string;
  /** A request (response body included) taking longer fails as 'timeout'; 10 s by default. */
  timeoutMs?: number;
  /** Between requests of one worker; 0 by default. */
  pauseMs?: number;
}

export const DEFAULT_LOAD_CONCURRENCY = 4;
export const DEFAULT_LOAD_TIMEOUT_MS = 10_000;

const MAX_SAMPLES = 10;

type Outcome =
  | { ok: true; status: number; servedBy: string | undefined }
  | { ok: false; kind: string; detail: string };

const invalidLoadOptions = (problem: string): OpledgerError =>
  new OpledgerError('INVALID_LOAD_OPTIONS', `startLoad(): ${problem}.`);

const positiveInteger = (name: string, value: number): number => {
  if (!Number.isInteger(value) || value < 1) {
    throw invalidLoadOptions(`${name} must be a positive integer, got ${value}`);
  }
  return value;
};

const resolveUrl = (url: string, path: string | undefined): URL => {
  let resolved: URL;
  try {
    resolved = new URL(path ?? '', url);
  } catch {
    throw invalidLoadOptions(`'${url}' with path '${path ?? ''}' is not a valid URL`);
  }
  if (resolved.protocol !== 'http:') {
    throw invalidLoadOptions(`only http: URLs are supported, got '${resolved.href}'`);
  }
  return resolved;
};

const failureOf = (error: unknown, timedOut: boolean): Outcome => {
  if (timedOut) return { ok: false, kind: 'timeout', detail: 'no complete response in time' };
  const { code, message } = (error ?? {}) as NodeJS.ErrnoException;
  return { ok: false, kind: code ?? message ?? 'unknown error', detail: message ?? String(error) };
};

export const startLoad = (options: LoadOptions): LoadGenerator => {
  const concurrency = positiveInteger(
    'concurrency',
    options.concurrency ?? DEFAULT_LOAD_CONCURRENCY,
  );
  const timeoutMs = positiveInteger('timeoutMs', options.timeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS);
  const pauseMs = Math.max(0, options.pauseMs ?? 0);
  const target = resolveUrl(options.url, options.path);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const stopping = new AbortController();
  const startedAt = performance.now();
  let stoppedAt: number | undefined;

  let requests = 0;
  let served = 0;
  let refused = 0;
  const failures: Record<string, number> = {};
  const firstFailures: string[] = [];
  // By target id, which a response names: a Map, as an id may be `constructor` or `__proto__`.
  const servedBy = new Map<string, number>();

  const elapsed = () => Math.round((stoppedAt ?? performance.now()) - startedAt);

  const record = (outcome: Outcome): void => {
    requests += 1;
    if (outcome.ok && outcome.status === 200) {
      served += 1;
      if (outcome.servedBy !== undefined) {
        servedBy.set(outcome.servedBy, (servedBy.get(outcome.servedBy) ?? 0) + 1);
      }
      return;
    }
    const kind = outcome.ok ? `status ${outcome.status}` : outcome.kind;
    const detail = outcome.ok
      ? `served by ${outcome.servedBy ?? '(no target header)'}`
      : outcome.detail;
    if (kind === 'ECONNREFUSED') refused += 1;
    failures[kind] = (failures[kind] ?? 0) + 1;
    if (firstFailures.length < MAX_SAMPLES) {
      firstFailures.push(`${new Date().toISOString()} (+${elapsed()} ms) ${kind}: ${detail}`);
    }
  };

  /** Never rejects: every way a request can end is an outcome. */
  const requestOnce = (): Promise<Outcome> =>
    new Promise((resolve) => {
      let timedOut = false;
      let done = false;
      const finish = (outcome: Outcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const req = http.get(target, { agent }, (res) => {
        const header = res.headers[TARGET_HEADER];
        const by = Array.isArray(header) ? header[0] : header;
        res.on('end', () => finish({ ok: true, status: res.statusCode ?? 0, servedBy: by }));
        res.on('error', (error) => finish(failureOf(error, timedOut)));
        res.on('close', () => {
          if (!res.complete) finish(failureOf(new Error('response cut short'), timedOut));
        });
        res.resume();
      });
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy();
      }, timeoutMs);
      req.on('error', (error) => finish(failureOf(error, timedOut)));
    });

  const worker = async (): Promise<void> => {
    while (!stopping.signal.aborted) {
      let outcome: Outcome;
      try {
        outcome = await requestOnce();
      } catch (error) {
        outcome = failureOf(error, false);
      }
      record(outcome);
      // A failing endpoint answers at once: yield so a failure loop cannot starve the process.
      if (!outcome.ok) await yieldToEventLoop();
      if (pauseMs > 0 && !stopping.signal.aborted) {
        await sleep(pauseMs, undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  };

  const snapshot = (): LoadReport => ({
    requests,
    served,
    errors: requests - served,
    refused,
    failures: { ...failures },
    firstFailures: [...firstFailures],
    durationMs: elapsed(),
    servedBy: Object.fromEntries(servedBy),
  });

  const workers = Array.from({ length: concurrency }, () => worker());
  let stopped: Promise<LoadReport> | undefined;

  return {
    snapshot,
    stop: () =>
      (stopped ??= (async () => {
        stopping.abort();
        await Promise.all(workers);
        stoppedAt = performance.now();
        agent.destroy();
        return snapshot();
      })()),
  };
};
