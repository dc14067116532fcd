import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoad, type LoadGenerator, type LoadReport } from '../../src/adapters/local/index.js';
import type { OperationHandle } from '../../src/engine/engine.js';
import type { OperationResult } from '../../src/engine/operation-result.js';
import { explain, openLocalWorld, type LocalWorld } from './local-world.js';

/**
 * Zero downtime against real processes: the app's containers are Node.js HTTP servers (child
 * processes), its endpoint a reverse proxy on loopback, and a load generator sends requests
 * through that endpoint for the whole duration of each operation. Every request must succeed.
 */

const APP = { type: 'app', handle: 'web' };

let world: LocalWorld;

/** Waits until the load has had `served` answers (at most 10 s: the assertions say the rest). */
const settleLoad = async (generator: LoadGenerator, served: number) => {
  const deadline = Date.now() + 10_000;
  while (generator.snapshot().served < served && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
};

interface UnderLoad {
  result: OperationResult;
  load: LoadReport;
  /** What the endpoint's proxy hid from the clients during the run: retries after failures. */
  proxy: { retried: number; upstreamFailures: number };
}

/** Runs `operation` under load; returns its result, what the load saw, what the proxy hid. */
const underLoad = async (
  label: string,
  operation: () => Promise<OperationResult>,
): Promise<UnderLoad> => {
  const url = world.infra.endpointUrl('web');
  if (!url) throw new Error('endpoint web has no proxy');
  const stats = () => world.infra.endpointStats('web') ?? { retried: 0, upstreamFailures: 0 };
  const before = stats();
  const generator = startLoad({ url, concurrency: 4 });
  let load: LoadReport | undefined;
  try {
    // Load before, during and after the operation: the endpoint serves before it starts, and
    // whatever the operation leaves in rotation serves after it has ended.
    await settleLoad(generator, 20);
    const result = await operation();
    await settleLoad(generator, generator.snapshot().served + 40);
    load = await generator.stop();
    const after = stats();
    const proxy = {
      retried: after.retried - before.retried,
      upstreamFailures: after.upstreamFailures - before.upstreamFailures,
    };
    console.log(
      `${label}: ${load.requests} requests, ${load.served} served, ${load.errors} errors, ${load.refused} refused; the proxy retried ${proxy.retried}; by ${JSON.stringify(load.servedBy)}`,
    );
    return { result, load, proxy };
  } finally {
    // Also when the operation throws or the test times out: no load left running.
    if (!load) await generator.stop();
  }
};

const servingReleases = async () => {
  const endpoint = await world.infra.loadBalancer.describeEndpoint('web');
  const images = new Set<string>();
  for (const id of endpoint?.targets ?? []) {
    const c = await world.infra.containers.describeContainer(id);
    if (c?.state === 'running') images.add(c.image);
  }
  return [...images].sort();
};

/**
 * Every request served, none refused, and, unless a container was killed on purpose, nothing
 * hidden by the proxy's retries: a deploy that stopped containers still in rotation would show
 * here even though its clients saw no error.
 */
const expectNoErrors = (run: UnderLoad, options: { killed?: boolean } = {}) => {
  expect(run.load.firstFailures).toEqual([]);
  expect(run.load.errors).toBe(0);
  expect(run.load.refused).toBe(0);
  expect(run.load.served).toBeGreaterThanOrEqual(60);
  if (!options.killed) expect(run.proxy).toEqual({ retried: 0, upstreamFailures: 0 });
};

/** Kills with SIGKILL the containers a log line names, once; returns the pids it killed. */
const killOn = (handle: OperationHandle, pattern: RegExp) => {
  const killed: number[] = [];
  const sub = handle.logs.subscribe((line) => {
    const ids = pattern.exec(line.message)?.[1];
    if (!ids || killed.length > 0) return;
    for (const id of ids.split(', ')) {
      const started = world.infra.processOf(id);
      if (!started) continue;
      process.kill(started.pid, 'SIGKILL');
      killed.push(started.pid);
    }
  });
  return { killed, stop: () => sub.unsubscribe() };
};

describe('app operations on local processes, under HTTP load', () => {
  beforeAll(async () => {
    world = await openLocalWorld({
      images: {
        'web:v1': { responseDelayMs: 5 },
        'web:v2': { responseDelayMs: 5 },
        'web:v3': { responseDelayMs: 5 },
        'web:slow-boot': { responseDelayMs: 5, bootDelayMs: 1_500 },
        // Boots, answers '/', but its strict health check answers 500.
        'web:unhealthy': { healthcheckStatus: 500 },
        'web:crashes': { boots: false },
      },
    });
    const provisioned = await world.run('app.provision', APP, { app: 'web' });
    expect(provisioned.status, explain(provisioned)).toBe('succeeded');
    const first = await world.run('app.deploy', APP, {
      app: 'web',
      image: 'web:v1',
      containerCount: 2,
    });
    expect(first.status, explain(first)).toBe('succeeded');
    expect(await servingReleases()).toEqual(['web:v1']);
  });

  afterAll(async () => {
    await world?.close();
  });

  it('a successful deploy switches every request to the new release without one error', async () => {
    const run = await underLoad('deploy v2', () =>
      world.run('app.deploy', APP, { app: 'web', image: 'web:v2' }),
    );
    expect(run.result.status, explain(run.result)).toBe('succeeded');
    expectNoErrors(run);
    expect(await servingReleases()).toEqual(['web:v2']);
    // The load spanned the switch: old and new containers both answered some of it.
    const servedBy = Object.keys(run.load.servedBy);
    const fresh = servedBy.filter((id) => id.startsWith(`web-${run.result.id}-`));
    expect(fresh.length).toBeGreaterThan(0);
    expect(servedBy.length).toBeGreaterThan(fresh.length);
  });

  it('a deploy whose health check fails rolls back and the endpoint never fails', async () => {
    const before = await servingReleases();
    const run = await underLoad('deploy failing its health check', () =>
      world.run('app.deploy', APP, {
        app: 'web',
        image: 'web:unhealthy',
        strictHealthCheck: true,
        healthCheckTimeoutSeconds: 2,
      }),
    );
    expect(run.result).toMatchObject({
      status: 'failed',
      failedStep: 'health check',
      rollback: 'succeeded',
    });
    expectNoErrors(run);
    expect(await servingReleases()).toEqual(before);
  });

  it('a deploy of a release that crashes on boot rolls back and the endpoint never fails', async () => {
    const before = await servingReleases();
    const run = await underLoad('deploy crashing on boot', () =>
      world.run('app.deploy', APP, {
        app: 'web',
        image: 'web:crashes',
        healthCheckTimeoutSeconds: 2,
      }),
    );
    expect(run.result).toMatchObject({ status: 'failed', rollback: 'succeeded' });
    expectNoErrors(run);
    expect(await servingReleases()).toEqual(before);
  });

  it('a deploy cancelled once its new containers are registered rolls back without one error', async () => {
    const before = await servingReleases();
    const run = await underLoad('deploy cancelled midway', async () => {
      const handle = await world.start('app.deploy', APP, { app: 'web', image: 'web:v3' });
      // Cancelled when the new containers serve next to the old ones: the deepest point
      // before the old ones leave, so the rollback has to take the new ones out of rotation.
      const sub = handle.logs.subscribe((line) => {
        if (/^Registered /.test(line.message)) {
          void world.engine.cancel(handle.id, { user: 'bob@example.com' });
        }
      });
      try {
        return await handle.result;
      } finally {
        sub.unsubscribe();
      }
    });
    expect(run.result).toMatchObject({ cancelled: true, status: 'failed', rollback: 'succeeded' });
    expectNoErrors(run);
    expect(await servingReleases()).toEqual(before);
  });

  it('a restart replaces every container without one error', async () => {
    const before = (await world.infra.loadBalancer.describeEndpoint('web'))?.targets ?? [];
    const run = await underLoad('restart', () => world.run('app.restart', APP, { app: 'web' }));
    expect(run.result.status, explain(run.result)).toBe('succeeded');
    expectNoErrors(run);
    const after = (await world.infra.loadBalancer.describeEndpoint('web'))?.targets ?? [];
    expect(after).toHaveLength(before.length);
    expect(after.filter((t) => before.includes(t))).toEqual([]);
    expect(Object.keys(run.load.servedBy)).toEqual(expect.arrayContaining([...before, ...after]));
  });

  it('scaling up to 4 containers and down to 1 never fails a request', async () => {
    const up = await underLoad('scale up to 4', () =>
      world.run('app.scale', APP, { app: 'web', containerCount: 4 }),
    );
    expect(up.result.status, explain(up.result)).toBe('succeeded');
    expectNoErrors(up);
    expect((await world.infra.loadBalancer.describeEndpoint('web'))?.targets).toHaveLength(4);
    // All four answered: the added containers took their share once registered.
    expect(Object.keys(up.load.servedBy).length).toBeGreaterThanOrEqual(4);

    const down = await underLoad('scale down to 1', () =>
      world.run('app.scale', APP, { app: 'web', containerCount: 1 }),
    );
    expect(down.result.status, explain(down.result)).toBe('succeeded');
    expectNoErrors(down);
    expect((await world.infra.loadBalancer.describeEndpoint('web'))?.targets).toHaveLength(1);
  });

  it('new containers killed with SIGKILL while their health check waits: the deploy rolls back, no request fails', async () => {
    const before = await servingReleases();
    let killed: number[] = [];
    const run = await underLoad(
      'deploy whose new containers are SIGKILLed before registration',
      async () => {
        const handle = await world.start('app.deploy', APP, {
          app: 'web',
          image: 'web:slow-boot',
          containerCount: 2,
          healthCheckTimeoutSeconds: 4,
        });
        // web:slow-boot takes 1.5 s to listen: the kill lands while the health check waits.
        const killer = killOn(handle, /^Started \d+ container\(s\) of web:slow-boot: (.+)$/);
        try {
          return await handle.result;
        } finally {
          killer.stop();
          killed = killer.killed;
        }
      },
    );
    expect(killed).toHaveLength(2);
    expect(run.result).toMatchObject({
      status: 'failed',
      failedStep: 'health check',
      rollback: 'succeeded',
    });
    expectNoErrors(run);
    expect(await servingReleases()).toEqual(before);
  });

  it('new containers killed with SIGKILL once registered, in rotation: the deploy rolls back, no request fails', async () => {
    const before = await servingReleases();
    let killed: number[] = [];
    const run = await underLoad(
      'deploy whose registered new containers are SIGKILLed',
      async () => {
        const handle = await world.start('app.deploy', APP, {
          app: 'web',
          image: 'web:v2',
          containerCount: 2,
        });
        const killer = killOn(handle, /^Registered (.+) on endpoint web$/);
        try {
          return await handle.result;
        } finally {
          killer.stop();
          killed = killer.killed;
        }
      },
    );
    expect(killed).toHaveLength(2);
    // The old containers are not deregistered while the new ones do not answer.
    expect(run.result).toMatchObject({
      status: 'failed',
      failedStep: 'deregister old targets',
      rollback: 'succeeded',
    });
    expect(run.result.error?.message).toMatch(/no longer answer/);
    // The dead targets were in rotation for a moment: the proxy retried what reached them.
    expectNoErrors(run, { killed: true });
    expect(await servingReleases()).toEqual(before);
  });

  it('before_release commands run to completion in a one-off container; a failing one stops the deploy', async () => {
    const ran = await underLoad('deploy with a before_release command', () =>
      world.run('app.deploy', APP, {
        app: 'web',
        image: 'web:v1',
        // Runs in the image's folder on the release runner: the app's files are there.
        beforeRelease: ['test -f server.cjs && sleep 0.3'],
      }),
    );
    expect(ran.result.status, explain(ran.result)).toBe('succeeded');
    expectNoErrors(ran);
    expect(await servingReleases()).toEqual(['web:v1']);

    const failed = await underLoad('deploy whose before_release command fails', () =>
      world.run('app.deploy', APP, { app: 'web', image: 'web:v2', beforeRelease: ['exit 3'] }),
    );
    expect(failed.result).toMatchObject({ status: 'failed', failedStep: 'before_release' });
    expect(failed.result.error?.message).toMatch(/'sh -c exit 3' .* ended with status 3/);
    expectNoErrors(failed);
    expect(await servingReleases()).toEqual(['web:v1']);
  });
});
