import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoad, type LoadGenerator, type LoadReport } from '../../src/adapters/local/index.js';
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

/** Runs `operation` under load; returns its result and what the load saw. */
const underLoad = async (
  label: string,
  operation: () => Promise<OperationResult>,
): Promise<{ result: OperationResult; load: LoadReport }> => {
  const url = world.infra.endpointUrl('web');
  if (!url) throw new Error('endpoint web has no proxy');
  const generator = startLoad({ url, concurrency: 4 });
  // Load before, during and after the operation: the endpoint serves before it starts, and
  // whatever the operation leaves in rotation serves after it has ended.
  await settleLoad(generator, 20);
  const outcome = await operation().then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  await settleLoad(generator, generator.snapshot().served + 40);
  const load = await generator.stop();
  if ('error' in outcome) throw outcome.error;
  const { result } = outcome;
  console.log(
    `${label}: ${load.requests} requests, ${load.served} served, ${load.errors} errors, ${load.refused} refused, by ${JSON.stringify(load.servedBy)}`,
  );
  return { result, load };
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

const expectNoErrors = (load: LoadReport) => {
  expect(load.firstFailures).toEqual([]);
  expect(load.errors).toBe(0);
  expect(load.refused).toBe(0);
  expect(load.served).toBeGreaterThanOrEqual(60);
};

describe('app operations on local processes, under HTTP load', () => {
  beforeAll(async () => {
    world = await openLocalWorld({
      images: {
        'web:v1': { responseDelayMs: 5 },
        'web:v2': { responseDelayMs: 5 },
        'web:v3': { responseDelayMs: 5, bootDelayMs: 1_500 },
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

  it('a successful deploy switches every request from v1 to v2 without one error', async () => {
    const { result, load } = await underLoad('deploy v2', () =>
      world.run('app.deploy', APP, { app: 'web', image: 'web:v2' }),
    );
    expect(result.status, explain(result)).toBe('succeeded');
    expectNoErrors(load);
    expect(await servingReleases()).toEqual(['web:v2']);
    // The load spanned the switch: old and new containers both answered some of it.
    const fresh = Object.keys(load.servedBy).filter((id) => id.startsWith(`web-${result.id}-`));
    expect(fresh.length).toBeGreaterThan(0);
    expect(Object.keys(load.servedBy).length).toBeGreaterThan(fresh.length);
  });

  it('a deploy whose health check fails rolls back and the endpoint never fails', async () => {
    const { result, load } = await underLoad('deploy failing its health check', () =>
      world.run('app.deploy', APP, {
        app: 'web',
        image: 'web:unhealthy',
        strictHealthCheck: true,
        healthCheckTimeoutSeconds: 2,
      }),
    );
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('health check');
    expect(result.rollback).toBe('succeeded');
    expectNoErrors(load);
    expect(await servingReleases()).toEqual(['web:v2']);
  });

  it('a deploy of a release that crashes on boot rolls back and the endpoint never fails', async () => {
    const { result, load } = await underLoad('deploy crashing on boot', () =>
      world.run('app.deploy', APP, {
        app: 'web',
        image: 'web:crashes',
        healthCheckTimeoutSeconds: 2,
      }),
    );
    expect(result.status).toBe('failed');
    expect(result.rollback).toBe('succeeded');
    expectNoErrors(load);
    expect(await servingReleases()).toEqual(['web:v2']);
  });

  it('a deploy cancelled midway rolls back and the endpoint never fails', async () => {
    const { result, load } = await underLoad('deploy cancelled midway', async () => {
      const handle = await world.start('app.deploy', APP, { app: 'web', image: 'web:v1' });
      // Cancelled once the new containers serve and the old ones drain: the deepest point.
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
    expect(result.cancelled).toBe(true);
    expect(result.status).toBe('failed');
    expect(result.rollback).toBe('succeeded');
    expectNoErrors(load);
    expect(await servingReleases()).toEqual(['web:v2']);
  });

  it('a restart replaces every container without one error', async () => {
    const before = (await world.infra.loadBalancer.describeEndpoint('web'))?.targets ?? [];
    const { result, load } = await underLoad('restart', () =>
      world.run('app.restart', APP, { app: 'web' }),
    );
    expect(result.status, explain(result)).toBe('succeeded');
    expectNoErrors(load);
    const after = (await world.infra.loadBalancer.describeEndpoint('web'))?.targets ?? [];
    expect(after).toHaveLength(before.length);
    expect(after.filter((t) => before.includes(t))).toEqual([]);
    expect(Object.keys(load.servedBy)).toEqual(expect.arrayContaining([...before, ...after]));
  });

  it('scaling up to 4 containers and down to 1 never fails a request', async () => {
    const up = await underLoad('scale up to 4', () =>
      world.run('app.scale', APP, { app: 'web', containerCount: 4 }),
    );
    expect(up.result.status, explain(up.result)).toBe('succeeded');
    expectNoErrors(up.load);
    expect((await world.infra.loadBalancer.describeEndpoint('web'))?.targets).toHaveLength(4);
    // All four answered: the added containers took their share once registered.
    expect(Object.keys(up.load.servedBy).length).toBeGreaterThanOrEqual(4);

    const down = await underLoad('scale down to 1', () =>
      world.run('app.scale', APP, { app: 'web', containerCount: 1 }),
    );
    expect(down.result.status, explain(down.result)).toBe('succeeded');
    expectNoErrors(down.load);
    expect((await world.infra.loadBalancer.describeEndpoint('web'))?.targets).toHaveLength(1);
  });

  it('a new container killed with SIGKILL mid-deploy: the deploy rolls back, the endpoint keeps serving', async () => {
    const { result, load } = await underLoad(
      'deploy whose new container is SIGKILLed',
      async () => {
        const handle = await world.start('app.deploy', APP, {
          app: 'web',
          image: 'web:v3',
          healthCheckTimeoutSeconds: 4,
        });
        // web:v3 takes 1.5 s to listen: the kill lands while the health check waits for it.
        const sub = handle.logs.subscribe((line) => {
          const match = /^Started 1 container\(s\) of web:v3: (\S+)/.exec(line.message);
          const started = match?.[1] ? world.infra.processOf(match[1]) : undefined;
          if (started) process.kill(started.pid, 'SIGKILL');
        });
        try {
          return await handle.result;
        } finally {
          sub.unsubscribe();
        }
      },
    );
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('health check');
    expect(result.rollback).toBe('succeeded');
    expectNoErrors(load);
    expect(await servingReleases()).toEqual(['web:v2']);
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
    expectNoErrors(ran.load);
    expect(await servingReleases()).toEqual(['web:v1']);

    const failed = await underLoad('deploy whose before_release command fails', () =>
      world.run('app.deploy', APP, { app: 'web', image: 'web:v2', beforeRelease: ['exit 3'] }),
    );
    expect(failed.result.status).toBe('failed');
    expect(failed.result.failedStep).toBe('before_release');
    expect(failed.result.error?.message).toMatch(/'sh -c exit 3' .* ended with status 3/);
    expectNoErrors(failed.load);
    expect(await servingReleases()).toEqual(['web:v1']);
  });
});
