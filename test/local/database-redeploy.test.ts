import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchConnections, type ConnectionWindow } from '../../src/adapters/local/index.js';
import type { OperationResult } from '../../src/engine/operation-result.js';
import { databaseRedeploy } from '../../src/catalog/index.js';
import { createEngine } from '../../src/engine/engine.js';
import { explain, openLocalWorld, USER, ENV, type LocalWorld } from './local-world.js';

/**
 * A database redeploy on a real PostgreSQL server whose data directory is the volume: the
 * volume's folder moves from one instance's folder to another's. A client reconnects in a loop
 * the whole time and measures the window in which the database refuses connections. The same
 * move in the naive order (stop first, then launch the target and pull the image) is measured
 * in the same test: the catalog's order, preconditions first, must have the shorter window.
 */

const DB = { type: 'database', handle: 'main' };
const ids = { databaseId: 'main', volumeId: 'main-data' };

let world: LocalWorld;
const dbPort = () => Number(new URL(world.infra.databaseUrl('main') as string).port);

const query = async (sql: string) => {
  const client = new pg.Client({ connectionString: world.infra.databaseUrl('main') });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
};

/**
 * Runs `operation` with a client reconnecting throughout; the refusal window it measured ends
 * with the first session after the operation (the watcher stops also when something throws).
 */
const measured = async (operation: () => Promise<OperationResult>) => {
  const watch = watchConnections(dbPort());
  try {
    await watch.ready();
    const result = await operation();
    await watch.settled();
    return { result, window: await watch.stop() };
  } finally {
    await watch.stop();
  }
};

/** Operations that moved the database: each started a container named after itself. */
const redeployed: string[] = [];

/** The running container of the database, which the next redeploy names. */
const runningContainer = async (instanceId: string) => {
  for (const id of ['main-db', ...redeployed.map((op) => `main-${op}`)]) {
    const c = await world.infra.containers.describeContainer(id);
    if (c?.state === 'running' && c.instanceId === instanceId) return id;
  }
  throw new Error(`no running database container on ${instanceId}`);
};

/**
 * The catalog's redeploy with its steps reordered the naive way: the old server stops before
 * the target instance is launched and the image pulled onto it.
 */
const naiveRedeploy = () => {
  const proper = databaseRedeploy(world.infra);
  const order = [
    'inspect placement',
    'stop old container',
    'unmount volume',
    'detach volume',
    'ensure target instance',
    'pre-pull image',
    'attach volume',
    'mount volume',
    'start new container',
  ];
  expect([...proper.steps.map((s) => s.name)].sort()).toEqual([...order].sort());
  const steps = order.map((name) => proper.steps.find((s) => s.name === name));
  return {
    ...proper,
    type: 'database.redeploy-naive',
    steps: steps.filter((s) => s !== undefined),
  };
};

describe('database redeploy on a real PostgreSQL server', () => {
  beforeAll(async () => {
    world = await openLocalWorld({ postgres: true });
    const provisioned = await world.run('database.provision', DB, {
      ...ids,
      containerId: 'main-db',
      instanceId: 'main-host-1',
      image: 'postgres:15',
      sizeGb: 10,
    });
    expect(provisioned.status, explain(provisioned)).toBe('succeeded');
    const first = watchConnections(dbPort());
    try {
      await first.ready();
    } finally {
      await first.stop();
    }
    await query('CREATE TABLE orders (id int PRIMARY KEY, item text)');
    await query(`INSERT INTO orders VALUES (1, 'first order')`);
  });

  afterAll(async () => {
    await world?.close();
  });

  it('moves the data folder with the database; its refusal window is shorter than the naive order', async () => {
    // The catalog's order: main-host-1 -> main-host-2 (a new instance: launched, image pulled).
    const { result: proper, window: properWindow } = await measured(async () =>
      world.run('database.redeploy', DB, {
        ...ids,
        containerId: await runningContainer('main-host-1'),
        targetInstanceId: 'main-host-2',
      }),
    );
    expect(proper.status, explain(proper)).toBe('succeeded');
    redeployed.push(proper.id);
    expect(await query('SELECT item FROM orders WHERE id = 1')).toEqual([{ item: 'first order' }]);
    const volume = await world.infra.volumes.describeVolume('main-data');
    expect(volume?.attachedTo).toBe('main-host-2');
    await query(`INSERT INTO orders VALUES (2, 'second order')`);

    // The naive order: main-host-2 -> main-host-3 (also new), same steps, stop first.
    const naiveEngine = createEngine({ store: world.store, operations: [naiveRedeploy()] });
    let naive: OperationResult;
    let naiveWindow: ConnectionWindow;
    try {
      ({ result: naive, window: naiveWindow } = await measured(async () => {
        const handle = await naiveEngine.start({
          type: 'database.redeploy-naive',
          environment: ENV,
          resource: DB,
          user: USER,
          params: {
            ...ids,
            containerId: await runningContainer('main-host-2'),
            targetInstanceId: 'main-host-3',
          },
        });
        return handle.result;
      }));
    } finally {
      await naiveEngine.shutdown();
    }
    expect(naive.status, explain(naive)).toBe('succeeded');
    redeployed.push(naive.id);
    expect(await query('SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 2 }]);

    console.log(
      `database redeploy, connections refused for: ${properWindow.refusedMs} ms (catalog order, ${properWindow.attempts} attempts) vs ${naiveWindow.refusedMs} ms (naive order, ${naiveWindow.attempts} attempts)`,
    );
    expect(properWindow.refusedMs).toBeGreaterThan(0);
    expect(properWindow.windows).toBe(1);
    // The naive window holds the launch of the target and the image pull (tens of MB copied):
    // not a matter of noise.
    expect(naiveWindow.refusedMs).toBeGreaterThan(properWindow.refusedMs + 300);
  });
});
