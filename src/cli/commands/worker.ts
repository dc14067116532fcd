import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AnyOperationDefinition } from '../../engine/engine-api.js';
import { listWorkers, type WorkerView } from '../../engine/worker/list-workers.js';
import { createWorker, type WorkerLogEntry } from '../../engine/worker/worker.js';
import { CliError, EXIT_FAILED, EXIT_OK } from '../cli-error.js';
import { opledgerCommand, println, printJson, type CliIo } from '../cli-io.js';
import { formatTable } from '../render.js';
import { displayUrl, openStoreSession } from '../store-session.js';
import { reads, withStore, type GlobalOptions } from './with-store.js';

export interface WorkerCommandOptions extends GlobalOptions {
  operations: string;
  concurrency?: string;
  identity?: string;
  leaseTtl?: string;
  renewEvery?: string;
  grace?: string;
}

export const DEFAULT_CONCURRENCY = '8';
export const DEFAULT_LEASE_TTL_MS = 15_000;
export const DEFAULT_RENEW_EVERY_MS = 5_000;
export const DEFAULT_GRACE_MS = '30000';

/** What `--operations` takes, for the help and the errors. */
export const OPERATIONS_MODULE_FORMS =
  'an ES module (a path from the current folder) whose default export is an array of operation definitions (defineOperation), or whose named exports are definitions';

const wholeNumber = (flag: string, value: string, min: number): number => {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new CliError(`${flag} '${value}' is not a whole number of ${min} or more`, {
      hint: `for example ${flag} ${flag === '--concurrency' ? 16 : flag === '--grace' ? 30000 : 15000}`,
    });
  }
  return n;
};

/** A value built by defineOperation: checked by shape, since the module may load its own copy of opledger. */
const isDefinition = (value: unknown): value is AnyOperationDefinition => {
  const d = value as { type?: unknown; steps?: unknown; sensitive?: unknown } | null;
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.type === 'string' &&
    Array.isArray(d.sensitive) &&
    Array.isArray(d.steps) &&
    d.steps.length > 0 &&
    d.steps.every(
      (s: unknown) =>
        typeof (s as { name?: unknown }).name === 'string' &&
        typeof (s as { run?: unknown }).run === 'function',
    )
  );
};

const describe = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;

/**
 * The definitions a module exports: its default export if that is an array (every item must be
 * a definition), else every export (default or named) that is a definition.
 */
export const definitionsOf = (
  module: Record<string, unknown>,
  path: string,
): AnyOperationDefinition[] => {
  const fromDefault = module.default;
  if (Array.isArray(fromDefault)) {
    const bad = fromDefault.findIndex((d) => !isDefinition(d));
    if (bad >= 0) {
      throw new CliError(
        `the default export of ${path} is an array whose item ${bad} is not an operation definition (${describe(fromDefault[bad])})`,
        { hint: 'build each one with defineOperation({ type, steps })' },
      );
    }
    if (fromDefault.length > 0) return fromDefault as AnyOperationDefinition[];
  }
  const found = Object.values(module).filter(isDefinition);
  if (found.length === 0) {
    const names = Object.keys(module);
    throw new CliError(
      `${path} exports no operation definitions (its exports: ${names.length ? names.join(', ') : 'none'})`,
      { hint: `--operations takes ${OPERATIONS_MODULE_FORMS}` },
    );
  }
  return found;
};

/** Imports the module `--operations` names, relative to `cwd`, and returns its definitions. */
export const loadOperationsModule = async (
  path: string,
  cwd = process.cwd(),
): Promise<AnyOperationDefinition[]> => {
  const file = resolve(cwd, path);
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new CliError(`--operations: there is no file ${path} (looked for ${file})`, {
      hint: `pass the path of ${OPERATIONS_MODULE_FORMS}`,
    });
  }
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(
      `cannot load the operations module ${path}: ${reason}`,
      code === 'ERR_UNKNOWN_FILE_EXTENSION'
        ? {
            hint: `this Node.js cannot import TypeScript by itself: compile it to JavaScript, or load a TypeScript loader first, e.g. NODE_OPTIONS='--import tsx' opledger worker ...`,
          }
        : { hint: 'fix the module so that it loads with node (its own error is above)' },
    );
  }
  return definitionsOf(module, path);
};

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** One line per thing the worker did or found, with the time and the level. */
const workerLine = (io: CliIo, json: boolean | undefined) => (entry: WorkerLogEntry) => {
  const at = new Date().toISOString();
  if (json) println(io.out, JSON.stringify({ at, ...entry }));
  else println(io.out, `${at}  ${entry.level.toUpperCase().padEnd(5)} ${entry.message}`);
};

/**
 * Runs a worker for the definitions of a module until SIGTERM, SIGINT or SIGHUP, then shuts it
 * down gracefully (`--grace`); a second signal leaves at once, and its operations are taken
 * over by another worker once its lease expires.
 */
export const workerCommand = async (options: WorkerCommandOptions, io: CliIo): Promise<number> => {
  const concurrency = wholeNumber('--concurrency', options.concurrency ?? DEFAULT_CONCURRENCY, 1);
  const ttlMs =
    options.leaseTtl === undefined
      ? DEFAULT_LEASE_TTL_MS
      : wholeNumber('--lease-ttl', options.leaseTtl, 1);
  // Renewed three times per ttl unless said otherwise, so that a short ttl alone is valid.
  const renewEveryMs =
    options.renewEvery === undefined
      ? Math.max(1, Math.min(DEFAULT_RENEW_EVERY_MS, Math.floor(ttlMs / 3)))
      : wholeNumber('--renew-every', options.renewEvery, 1);
  if (renewEveryMs >= ttlMs) {
    throw new CliError(
      `--renew-every (${renewEveryMs} ms) must be shorter than --lease-ttl (${ttlMs} ms): the lease would expire between renewals`,
      {
        hint: 'renew about three times per time to live, e.g. --lease-ttl 15000 --renew-every 5000',
      },
    );
  }
  const graceMs = wholeNumber('--grace', options.grace ?? DEFAULT_GRACE_MS, 0);
  if (options.identity !== undefined && options.identity.trim() === '') {
    throw new CliError('--identity must not be empty', { hint: 'for example --identity web-1' });
  }
  const operations = await loadOperationsModule(options.operations);

  const session = await openStoreSession(options, { command: 'worker', writes: true });
  try {
    const line = workerLine(io, options.json);
    // Listened for before the worker starts: a signal during its start still stops it cleanly.
    let received: NodeJS.Signals | undefined;
    let signalled: (signal: NodeJS.Signals) => void = () => undefined;
    const firstSignal = new Promise<NodeJS.Signals>((r) => (signalled = r));
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        println(
          io.err,
          `${signal}: leaving now; the operations still running are taken over by another worker once this one's lease expires`,
        );
        process.exit(130);
      }
      received = signal;
      signalled(signal);
    };
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
    try {
      const worker = await createWorker({
        store: session.stores.eventStore,
        operations,
        concurrency,
        ...(options.identity !== undefined ? { identity: options.identity } : {}),
        lease: { ttlMs, renewEveryMs },
        log: line,
      });
      println(
        io.err,
        `Worker ${worker.identity} runs ${operations.map((d) => d.type).join(', ')} from ${displayUrl(session.url)} (concurrency ${concurrency}, lease ${ttlMs} ms renewed every ${renewEveryMs} ms; SIGTERM or Ctrl-C stops it)`,
      );
      line({
        level: 'info',
        message: `worker ${worker.identity} started with lease ${worker.lease()}`,
      });
      const outcome = await Promise.race([
        firstSignal.then((signal) => ({ signal })),
        worker.stopped.then(
          () => ({ error: undefined }),
          (error: unknown) => ({ error }),
        ),
      ]);
      if ('error' in outcome) {
        throw new CliError(
          `the worker stopped: ${outcome.error instanceof Error ? outcome.error.message : String(outcome.error)}`,
          {
            hint: `its operations are taken over by another worker once its lease expires; start it again with ${opledgerCommand(io.env)} worker`,
            exitCode: EXIT_FAILED,
          },
        );
      }
      println(
        io.err,
        `${outcome.signal}: stopping: no new claims; running operations have ${graceMs} ms to finish, then are cancelled and rolled back (again to leave at once)`,
      );
      await worker.shutdown({ graceMs });
      line({ level: 'info', message: `worker ${worker.identity} stopped; lease released` });
      return EXIT_OK;
    } finally {
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
    }
  } finally {
    await session.close();
  }
};

export const workersTable = (workers: readonly WorkerView[]): string =>
  formatTable(
    ['WORKER', 'STATUS', 'HOST', 'PID', 'STARTED', 'LAST RENEWAL', 'HOLDING'],
    workers.map((w) => [
      w.worker,
      w.status,
      w.host,
      String(w.pid),
      w.startedAt,
      w.lastRenewalAt,
      w.holding.length === 0 ? '-' : w.holding.join(','),
    ]),
  );

/** The workers registered on the store, newest first: live, lost and stopped. */
export const workersCommand = (options: GlobalOptions, io: CliIo) =>
  withStore(
    options,
    async (session) => {
      const workers = await listWorkers(session.stores.eventStore);
      if (options.json) {
        printJson(io.out, workers);
        return EXIT_OK;
      }
      if (workers.length === 0) {
        println(io.out, `No worker has run on ${displayUrl(session.url)}.`);
        return EXIT_OK;
      }
      println(io.out, workersTable(workers));
      return EXIT_OK;
    },
    { catchUp: false, access: reads('workers', io) },
  );
