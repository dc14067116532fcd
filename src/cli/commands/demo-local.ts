import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  createLocalInfrastructure,
  DEFAULT_POSTGRES_BIN,
  publishAppImage,
  publishPostgresImage,
  startLoad,
  watchConnections,
  type ConnectionWatch,
  type LoadGenerator,
  type LoadReport,
  type LocalInfrastructure,
} from '../../adapters/local/index.js';
import { systemClock } from '../../engine/clock.js';
import { createEngine, type Engine, type OperationRequest } from '../../engine/engine.js';
import { createTimeOrderedIds } from '../../engine/ids.js';
import type { OperationResult } from '../../engine/operation-result.js';
import { ENVIRONMENT_RESOURCE } from '../../domain/stream-names.js';
import { catalogOperations } from '../catalog-operations.js';
import { lockCloud, type CloudLock } from '../cloud-file.js';
import { CliError, EXIT_FAILED } from '../cli-error.js';
import { println, type CliIo } from '../cli-io.js';
import { onStopSignals, startAndFollow } from '../follow-operation.js';
import { displayUrl, openStoreSession } from '../store-session.js';
import { checkScene, succeeded, summarise } from './demo-summary.js';
import type { DemoOptions } from './demo-options.js';

/** Where the local demo keeps its lock per environment (the infrastructure itself is temporary). */
export const LOCAL_FOLDER = '.opledger/local';

const APP = 'web';
const DATABASE = 'main';

/** Short enough for a demo, long enough to be real: requests in flight get 2 s to finish. */
const TIMINGS = { drainMs: 2_000, stopTimeoutMs: 5_000, healthCheckIntervalMs: 200 };

interface LocalScene {
  title: string;
  request: Omit<OperationRequest, 'environment' | 'user'>;
  expect: (result: OperationResult) => boolean;
  /** Cancel the operation when a line of its log matches. */
  cancelOn?: RegExp;
  /** Measure the database's refusal window while it runs. */
  watchDatabase?: boolean;
}

const rolledBack = (r: OperationResult) => r.status === 'failed' && r.rollback === 'succeeded';

const appScenes = (env: string): LocalScene[] => {
  const app = { type: 'app', handle: APP };
  return [
    {
      title: `Provision the environment ${env}`,
      request: {
        type: 'environment.provision',
        resource: { type: ENVIRONMENT_RESOURCE, handle: env },
        params: { environment: env },
      },
      expect: succeeded,
    },
    {
      title: `Provision the app ${APP}: an instance folder and an HTTP proxy on loopback`,
      request: { type: 'app.provision', resource: app, params: { app: APP } },
      expect: succeeded,
    },
    {
      title: 'The first release: two Node.js servers behind the proxy',
      request: {
        type: 'app.deploy',
        resource: app,
        params: { app: APP, image: 'web:v1', containerCount: 2 },
      },
      expect: succeeded,
    },
  ];
};

const underLoadScenes = (): LocalScene[] => {
  const app = { type: 'app', handle: APP };
  return [
    {
      title: 'A successful deploy of web:v2, under load',
      request: { type: 'app.deploy', resource: app, params: { app: APP, image: 'web:v2' } },
      expect: succeeded,
    },
    {
      title: 'A deploy whose strict health check fails (web:v3 answers 500): it rolls back',
      request: {
        type: 'app.deploy',
        resource: app,
        params: {
          app: APP,
          image: 'web:v3',
          strictHealthCheck: true,
          healthCheckTimeoutSeconds: 3,
        },
      },
      expect: rolledBack,
    },
    {
      title: 'A deploy cancelled midway, once its new container serves: it rolls back',
      request: { type: 'app.deploy', resource: app, params: { app: APP, image: 'web:v1' } },
      cancelOn: /^Registered /,
      expect: (r) => rolledBack(r) && r.cancelled,
    },
    {
      title: 'A restart: every container replaced',
      request: { type: 'app.restart', resource: app, params: { app: APP } },
      expect: succeeded,
    },
    {
      title: 'Scale to 3 containers',
      request: { type: 'app.scale', resource: app, params: { app: APP, containerCount: 3 } },
      expect: succeeded,
    },
    {
      title: 'Scale back to 1 container',
      request: { type: 'app.scale', resource: app, params: { app: APP, containerCount: 1 } },
      expect: succeeded,
    },
  ];
};

const databaseScenes = (): LocalScene[] => {
  const database = { type: 'database', handle: DATABASE };
  const ids = { databaseId: DATABASE, volumeId: `${DATABASE}-data` };
  return [
    {
      title: `Provision the database ${DATABASE}: a PostgreSQL server whose data folder is the volume`,
      request: {
        type: 'database.provision',
        resource: database,
        params: {
          ...ids,
          containerId: `${DATABASE}-db`,
          instanceId: `${DATABASE}-host-1`,
          image: 'postgres:15',
          sizeGb: 1,
        },
      },
      expect: succeeded,
    },
    {
      title: 'Redeploy the database onto another instance, with a client reconnecting throughout',
      request: {
        type: 'database.redeploy',
        resource: database,
        params: { ...ids, containerId: `${DATABASE}-db`, targetInstanceId: `${DATABASE}-host-2` },
      },
      watchDatabase: true,
      expect: succeeded,
    },
  ];
};

interface LoadMark {
  load: LoadReport;
  /** Requests the endpoint's proxy re-sent after a container failed them: hidden errors. */
  retried: number;
}

const loadMark = (run: LocalRun): LoadMark | undefined =>
  run.load
    ? { load: run.load.snapshot(), retried: run.infra.endpointStats(APP)?.retried ?? 0 }
    : undefined;

const loadLine = (before: LoadMark, after: LoadMark) => {
  const requests = after.load.requests - before.load.requests;
  const errors = after.load.errors - before.load.errors;
  const retried = after.retried - before.retried;
  return `During this operation: ${requests} requests through endpoint ${APP}, ${requests - errors} served, ${errors} errors (the proxy retried ${retried} on another container)`;
};

interface LocalRun {
  engine: Engine;
  infra: LocalInfrastructure;
  /** Records a started operation in the lock, for a later run to recover if this one dies. */
  track: (operationId: string) => void;
  load?: LoadGenerator;
  current?: string;
}

const runScene = async (
  scene: LocalScene,
  n: number,
  run: LocalRun,
  options: DemoOptions,
  io: CliIo,
): Promise<OperationResult> => {
  println(io.out);
  println(io.out, `== ${n}. ${scene.title}`);
  const before = loadMark(run);
  const dbPort = Number(new URL(run.infra.databaseUrl(DATABASE) ?? 'http://x:0').port);
  const watch = scene.watchDatabase ? watchConnections(dbPort) : undefined;
  try {
    await watch?.ready();
    return await followScene(scene, run, options, io, before, watch);
  } finally {
    // Also when something throws: the reconnecting client must not outlive the scene.
    await watch?.stop();
  }
};

const followScene = async (
  scene: LocalScene,
  run: LocalRun,
  options: DemoOptions,
  io: CliIo,
  before: LoadMark | undefined,
  watch: ConnectionWatch | undefined,
): Promise<OperationResult> => {
  const world = { engine: run.engine, track: run.track, save: () => undefined };
  const result = await startAndFollow(
    world,
    { ...scene.request, environment: options.env, user: options.user },
    io,
    {
      quiet: true,
      started: (id) => {
        run.current = id;
        if (!scene.cancelOn) return;
        let cancelled = false;
        // Ends with the operation's log; a flag, as lines so far may arrive before `subscribe` returns.
        run.engine.logs(id).subscribe((line) => {
          if (cancelled || !scene.cancelOn?.test(line.message)) return;
          cancelled = true;
          println(io.out, `-- ${options.user} cancels operation ${id}`);
          void run.engine.cancel(id, { user: options.user }).catch(() => undefined);
        });
      },
    },
  );
  run.current = undefined;
  println(io.out, `-> ${result.summary}`);
  const after = loadMark(run);
  if (before && after) println(io.out, `-> ${loadLine(before, after)}`);
  if (watch) {
    await watch.settled();
    const window = await watch.stop();
    println(
      io.out,
      `-> Measured: database ${DATABASE} refused connections for ${window.refusedMs} ms (a client opened ${window.attempts} sessions, one after another, from before the redeploy until the database answered again)`,
    );
  }
  return result;
};

/** Whether the database scenes can run here: a PostgreSQL server and the `pg` client. */
const postgresAvailable = async (): Promise<string | undefined> => {
  const bin = process.env.OPLEDGER_PG_BIN ?? DEFAULT_POSTGRES_BIN;
  if (!existsSync(join(bin, 'postgres'))) {
    return `no PostgreSQL server in ${bin} (set OPLEDGER_PG_BIN to its bin folder)`;
  }
  try {
    await import('pg');
    return undefined;
  } catch {
    return "the 'pg' package is not installed (npm install pg)";
  }
};

/**
 * `opledger demo --local`: the demo's operations on real processes of this machine. The app's
 * containers are Node.js servers, its endpoint an HTTP proxy on loopback, and a load generator
 * sends requests through it during the deploys; the database is a real PostgreSQL server moved
 * between instance folders while a client reconnects. Everything runs in a temporary folder and
 * is stopped and removed at the end; the operations stay in the store.
 */
export const localDemoCommand = async (options: DemoOptions, io: CliIo): Promise<number> => {
  if (options.cloud) {
    throw new CliError('--cloud names a simulated cloud; the local demo runs real processes', {
      hint: 'leave out --cloud, or --local',
    });
  }
  const session = await openStoreSession(options, { command: 'demo --local', writes: true });
  // One local demo at a time per environment; a run that died (killed, or left on a second
  // Ctrl-C) left its operations running in the store, and this lock names them.
  let lock: CloudLock;
  try {
    lock = lockCloud(
      resolve(`${LOCAL_FOLDER}/${encodeURIComponent(options.env)}.json`),
      'the local demo of',
      'run it in another --env',
    );
  } catch (error) {
    await session.close();
    throw error;
  }
  const root = await mkdtemp(join(tmpdir(), 'opledger-demo-local-'));
  let infra: LocalInfrastructure | undefined;
  let engine: Engine | undefined;
  try {
    infra = await createLocalInfrastructure({ root });
    const registry = infra.registries['docker-hub'];
    await publishAppImage(registry, 'web:v1', { responseDelayMs: 2 });
    await publishAppImage(registry, 'web:v2', { responseDelayMs: 2 });
    await publishAppImage(registry, 'web:v3', { healthcheckStatus: 500 });
    const noDatabase = await postgresAvailable();
    if (!noDatabase) await publishPostgresImage(registry);
    engine = createEngine({
      store: session.stores.eventStore,
      operations: catalogOperations(infra, TIMINGS),
      clock: systemClock,
      ids: createTimeOrderedIds(systemClock),
    });
    const run: LocalRun = { engine, infra, track: (id) => lock.record(id) };
    let stopped = false;
    const removeHandlers = onStopSignals(io, {
      stop: () => {
        stopped = true;
        if (run.current) void engine?.cancel(run.current, { user: options.user }).catch(() => {});
      },
      // Leaving at once still stops the servers: the process's exit takes its children along.
      leave: () => undefined,
    });
    const results: OperationResult[] = [];
    let totals: LoadReport | undefined;
    let retried = 0;
    try {
      println(
        io.out,
        `opledger demo --local: store ${displayUrl(session.url)}, real processes under ${root}`,
      );
      // Their processes died with that run: rolling them back frees their resources' queues
      // (undos of what no longer exists are no-ops, or say what they could not restore).
      if (lock.abandoned.length > 0) {
        for (const recovered of await engine.recover({ operationIds: lock.abandoned })) {
          println(io.out, `Recovered an operation an interrupted run left: ${recovered.summary}`);
        }
      }
      const scenes = [...appScenes(options.env), ...underLoadScenes()];
      for (const [i, scene] of scenes.entries()) {
        if (stopped) break;
        if (i === appScenes(options.env).length) {
          const url = infra.endpointUrl(APP) as string;
          run.load = startLoad({ url, concurrency: 4 });
          println(io.out);
          println(io.out, `Load: 4 clients send requests to ${url} from now on`);
        }
        const result = await runScene(scene, i + 1, run, options, io);
        results.push(result);
        if (!stopped) checkScene(scene, result, io);
      }
      totals = await run.load?.stop();
      retried = infra.endpointStats(APP)?.retried ?? 0;
      run.load = undefined;
      if (totals) {
        println(io.out);
        println(
          io.out,
          `Load during the deploys, restart and scaling: ${totals.requests} requests, ${totals.served} served, ${totals.errors} errors (${totals.refused} refused connections); the proxy retried ${retried} on another container`,
        );
        for (const failure of totals.firstFailures) println(io.out, `  ${failure}`);
      }
      if (noDatabase) {
        println(io.out);
        println(io.out, `The database scenes are skipped: ${noDatabase}.`);
      } else {
        for (const scene of databaseScenes()) {
          if (stopped) break;
          const result = await runScene(scene, results.length + 1, run, options, io);
          results.push(result);
          if (!stopped) checkScene(scene, result, io);
        }
      }
    } finally {
      removeHandlers();
      await run.load?.stop();
    }
    if (stopped) {
      println(io.err, 'The demo was stopped; run it again to start over.');
      return 130;
    }
    if (totals && (totals.errors > 0 || retried > 0)) {
      // A retry is a failure the proxy hid: a zero-downtime switch needs none.
      throw new CliError(
        `${totals.errors} requests failed and ${retried} had to be retried during the operations`,
        { hint: 'the first failures are printed above', exitCode: EXIT_FAILED },
      );
    }
    return await summarise(session, options, results, new Date(), io);
  } finally {
    try {
      await engine?.shutdown();
    } finally {
      await infra?.close();
      await rm(root, { recursive: true, force: true });
      lock.release();
      await session.close();
    }
  }
};
