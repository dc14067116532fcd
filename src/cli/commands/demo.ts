import { relative } from 'node:path';
import type { OperationResult } from '../../engine/operation-result.js';
import { ENVIRONMENT_RESOURCE } from '../../domain/stream-names.js';
import { CliError } from '../cli-error.js';
import { opledgerCommand, println, type CliIo } from '../cli-io.js';
import { cloudFileOf, openSimulatedWorld, type SimulatedWorld } from '../simulated-world.js';
import { displayUrl, openStoreSession, type StoreSession } from '../store-session.js';
import { startAndFollow } from '../follow-operation.js';
import { parseSpeed } from './run.js';
import { succeeded, summarise } from './demo-summary.js';
import { runScenes } from './demo-scenes.js';
import { localDemoCommand } from './demo-local.js';
import { paramsFromResource, placementDefaults } from '../catalog-operations.js';
import type { DemoOptions } from './demo-options.js';
import { writeDemoHistory } from './demo-history.js';

export type { DemoOptions };

export const DEFAULT_DEMO_SPEED = '200';

const APP = 'web';
const DATABASE = 'main';

interface Scene {
  title: string;
  type: string;
  resource: { type: string; handle: string };
  /** A function when the params depend on the cloud (a second run finds the first's database). */
  params: Record<string, unknown> | ((world: SimulatedWorld) => Record<string, unknown>);
  /** What the scene shows; the demo fails loudly when it does not happen. */
  expect: (result: OperationResult) => boolean;
  before?: (world: SimulatedWorld) => void;
  after?: (world: SimulatedWorld, result: OperationResult) => string | undefined;
  /** Virtual ms after the start at which the demo cancels the operation. */
  cancelAfterMs?: number;
}

/** The database's ids and placement, worked out as `opledger run` does for `--resource`. */
const databaseParams = (world: SimulatedWorld, type: string, env: string) => ({
  ...paramsFromResource(world.cloud, type, env, { type: 'database', handle: DATABASE }),
  ...placementDefaults(world.cloud, type, DATABASE),
});

const scenes = (env: string): Scene[] => {
  const app = { type: 'app', handle: APP };
  const database = { type: 'database', handle: DATABASE };
  let downtimeBefore = 0;
  return [
    {
      title: `Provision the environment ${env}`,
      type: 'environment.provision',
      resource: { type: ENVIRONMENT_RESOURCE, handle: env },
      params: { environment: env },
      expect: succeeded,
    },
    {
      title: `Provision the app ${APP}`,
      type: 'app.provision',
      resource: app,
      params: { app: APP },
      expect: succeeded,
    },
    {
      title: `Provision the database ${DATABASE}`,
      type: 'database.provision',
      resource: database,
      // Provisioning is idempotent: on a second run it finds the database where it runs now.
      params: (world) => databaseParams(world, 'database.provision', env),
      expect: succeeded,
    },
    {
      title: 'A successful deploy',
      type: 'app.deploy',
      resource: app,
      params: { app: APP, image: 'web:v1', containerCount: 2, env: { RAILS_ENV: 'production' } },
      expect: succeeded,
    },
    {
      title: 'A deploy whose health check fails: it rolls back, and says what it could not undo',
      type: 'app.deploy',
      resource: app,
      params: {
        app: APP,
        image: 'web:v2',
        beforeRelease: ['bundle exec rake db:migrate'],
        healthCheckTimeoutSeconds: 30,
      },
      before: (world) => world.cloud.setImageBehaviour('web:v2', { responds: false }),
      expect: (r) => r.status === 'failed' && r.notUndone.some((n) => n.step === 'before_release'),
    },
    {
      title: 'A deploy during a Docker Hub outage: it fails over to Quay.io',
      type: 'app.deploy',
      resource: app,
      params: { app: APP, image: 'web:v3' },
      before: (world) =>
        world.cloud.faults.outage('registry:docker-hub', {
          from: world.clock.now(),
          to: world.clock.now().getTime() + 3_600_000,
        }),
      after: (world) => {
        world.cloud.faults.clear();
        return undefined;
      },
      expect: succeeded,
    },
    {
      title: `A database redeploy onto another instance, with its measured downtime`,
      type: 'database.redeploy',
      resource: database,
      params: (world) => databaseParams(world, 'database.redeploy', env),
      before: (world) => {
        downtimeBefore = world.cloud.downtime().databases[DATABASE] ?? 0;
      },
      after: (world) => {
        const ms = (world.cloud.downtime().databases[DATABASE] ?? 0) - downtimeBefore;
        return `Measured downtime of database ${DATABASE}: ${(ms / 1000).toFixed(1)} s (the database refused connections only from the stop of the old container to the start of the new one)`;
      },
      expect: succeeded,
    },
    {
      title: 'A deploy cancelled midway: it rolls back',
      type: 'app.deploy',
      resource: app,
      params: { app: APP, image: 'web:v4' },
      cancelAfterMs: 25_000,
      expect: (r) => r.status === 'failed' && r.cancelled && r.rollback === 'succeeded',
    },
    {
      title: `Deprovision the app ${APP}`,
      type: 'app.deprovision',
      resource: app,
      params: { app: APP },
      expect: succeeded,
    },
  ];
};

const runScene = async (
  scene: Scene,
  n: number,
  world: SimulatedWorld,
  options: DemoOptions,
  io: CliIo,
  onStarted: (id: string) => void,
): Promise<OperationResult> => {
  println(io.out);
  println(io.out, `== ${n}. ${scene.title}`);
  scene.before?.(world);
  const params = typeof scene.params === 'function' ? scene.params(world) : scene.params;
  const current: { id?: string } = {};
  if (scene.cancelAfterMs !== undefined) {
    world.clock.at(world.clock.now().getTime() + scene.cancelAfterMs, async () => {
      if (!current.id) return;
      println(io.out, `-- ${options.user} cancels operation ${current.id}`);
      await world.engine.cancel(current.id, { user: options.user });
    });
  }
  const result = await startAndFollow(
    world,
    {
      type: scene.type,
      environment: options.env,
      resource: scene.resource,
      user: options.user,
      params,
    },
    io,
    {
      quiet: true,
      started: (id) => {
        current.id = id;
        onStarted(id);
      },
    },
  );
  const note = scene.after?.(world, result);
  println(io.out, `-> ${result.summary}`);
  if (note) println(io.out, `-> ${note}`);
  return result;
};

/**
 * The store has never seen the environment (not even deprovisioned): a history written in its
 * past cannot come after operations of an earlier lifetime.
 */
const isNewEnvironment = async (session: StoreSession, environment: string) => {
  await session.catchUp();
  const known = await session.readModel.environments();
  return !known.some((e) => e.name === environment);
};

/**
 * The main job: an environment with an app and a database on the simulated cloud, and the
 * operations that show what opledger does, each log streamed live as it runs.
 */
export const demoCommand = async (options: DemoOptions, io: CliIo): Promise<number> => {
  if (options.json) {
    throw new CliError('the demo has no JSON output', {
      hint: `run it, then read what it did with: ${opledgerCommand(io.env)} operations --env ${options.env} --json`,
    });
  }
  if (options.local) return localDemoCommand(options, io);
  const speed = parseSpeed(options.speed);
  const session = await openStoreSession(options, { command: 'demo', writes: true });
  try {
    println(
      io.out,
      `opledger demo: store ${displayUrl(session.url)}, simulated cloud ${relative(process.cwd(), cloudFileOf(options.env, options.cloud))}`,
    );
    // The first run in an environment writes its past weeks (for the Metrics); later runs
    // add to the history they find, as virtual time never goes back.
    if (options.history !== false && (await isNewEnvironment(session, options.env))) {
      const history = await writeDemoHistory(
        {
          env: options.env,
          user: options.user,
          store: session.stores.eventStore,
          ...(options.cloud ? { cloud: options.cloud } : {}),
        },
        io,
      );
      if (history.stopped) {
        println(io.err, 'The demo was stopped; run it again to go on.');
        return 130;
      }
    }
    const world = openSimulatedWorld({
      environment: options.env,
      store: session.stores.eventStore,
      speed,
      ...(options.cloud ? { cloudFile: options.cloud } : {}),
    });
    const { results, stopped } = await runScenes(world, io, options.user, {
      before: async () => {
        for (const recovered of await world.recoverAbandoned()) {
          println(io.out, `Recovered an operation an interrupted run left: ${recovered.summary}`);
        }
      },
      scenes: scenes(options.env),
      expected: (scene) => scene,
      run: (scene, i, started) => runScene(scene, i + 1, world, options, io, started),
    });
    if (stopped) {
      println(io.err, 'The demo was stopped; run it again to start over.');
      return 130;
    }
    return await summarise(session, options, results, world.clock.now(), io);
  } finally {
    await session.close();
  }
};
