import { describe, expect, it } from 'vitest';
import {
  CloudRequestError,
  CloudServiceError,
  createSimulatedCloud,
  DEFAULT_CALL_DURATIONS as D,
  type SimulatedCloud,
} from '../../src/adapters/infrastructure/index.js';
import { createVirtualClock } from '../../src/testing/index.js';

const START = Date.parse('2026-01-05T00:00:00.000Z');

const elapsed = (cloud: SimulatedCloud) => cloud.clock.now().getTime() - START;

/** An instance with app:v1 pulled and a running container `web-1`. */
const withRunningApp = async (cloud: SimulatedCloud, containerId = 'web-1', instanceId = 'i-1') => {
  await cloud.compute.ensureInstance({ instanceId });
  await cloud.containers.pullImage({ instanceId, image: 'app:v1', registry: 'docker-hub' });
  await cloud.containers.startContainer({ containerId, instanceId, image: 'app:v1' });
};

/** A database `db` on instance i-1 with volume vol-1, accepting connections. */
const withRunningDatabase = async (cloud: SimulatedCloud) => {
  await cloud.compute.ensureInstance({ instanceId: 'i-1' });
  await cloud.containers.pullImage({ instanceId: 'i-1', image: 'postgres:16', registry: 'quay' });
  await cloud.volumes.createVolume({ volumeId: 'vol-1', sizeGb: 10 });
  await cloud.volumes.attachVolume({ volumeId: 'vol-1', instanceId: 'i-1' });
  await cloud.volumes.mountVolume({ volumeId: 'vol-1' });
  await cloud.databases.createDatabase({ databaseId: 'db', volumeId: 'vol-1' });
  await cloud.containers.startContainer({
    containerId: 'db-1',
    instanceId: 'i-1',
    image: 'postgres:16',
    volumeId: 'vol-1',
  });
};

const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
};

describe('simulated cloud: compute and containers', () => {
  it('launches an instance once, taking its virtual duration each call', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    const first = await cloud.compute.ensureInstance({ instanceId: 'i-1', size: 'large' });
    expect(first).toEqual({ id: 'i-1', size: 'large', state: 'available', images: [] });
    expect(elapsed(cloud)).toBe(D.ensureInstance);
    await cloud.compute.ensureInstance({ instanceId: 'i-1' });
    expect(Object.keys(cloud.snapshot().instances)).toEqual(['i-1']);
    expect(cloud.timeline().filter((e) => e.kind === 'instance-launched')).toHaveLength(1);
  });

  it('uses the clock it is given, so the engine and the cloud share time', async () => {
    const clock = createVirtualClock('2030-01-01T00:00:00.000Z');
    const cloud = createSimulatedCloud({ seed: 1, clock, durations: { ensureInstance: 7 } });
    await cloud.compute.ensureInstance({ instanceId: 'i-1' });
    expect(clock.now().toISOString()).toBe('2030-01-01T00:00:00.007Z');
  });

  it('refuses to start a container whose image was not pulled onto the instance', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await cloud.compute.ensureInstance({ instanceId: 'i-1' });
    const error = await rejection(
      cloud.containers.startContainer({ containerId: 'c', instanceId: 'i-1', image: 'app:v1' }),
    );
    expect(error).toBeInstanceOf(CloudRequestError);
    expect(error).toMatchObject({
      code: 'IMAGE_NOT_PULLED',
      call: 'startContainer',
      retryable: false,
    });
    expect(cloud.snapshot().containers).toEqual({});
  });

  it('starts a container idempotently with its spec', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningApp(cloud);
    const again = await cloud.containers.startContainer({
      containerId: 'web-1',
      instanceId: 'i-1',
      image: 'app:v1',
    });
    expect(again).toMatchObject({ id: 'web-1', state: 'running', sizeMb: 512, volumeId: null });
    expect(cloud.timeline().filter((e) => e.kind === 'container-started')).toHaveLength(1);
    const conflict = await rejection(
      cloud.containers.startContainer({ containerId: 'web-1', instanceId: 'i-1', image: 'app:v2' }),
    );
    expect(conflict).toMatchObject({ code: 'CONFLICT' });
  });

  it('health-checks / leniently and /healthcheck strictly', async () => {
    const cloud = createSimulatedCloud({
      seed: 1,
      images: { 'app:v1': { status: { '/': 404, '/healthcheck': 503 } } },
    });
    await withRunningApp(cloud);
    expect(await cloud.containers.checkHealth({ containerId: 'web-1' })).toEqual({
      healthy: true,
      path: '/',
      status: 404,
    });
    expect(await cloud.containers.checkHealth({ containerId: 'web-1', strict: true })).toEqual({
      healthy: false,
      path: '/healthcheck',
      status: 503,
    });
    cloud.setImageBehaviour('app:v1', { responds: false });
    expect(await cloud.containers.checkHealth({ containerId: 'web-1' })).toEqual({
      healthy: false,
      path: '/',
      status: null,
    });
  });

  it('stops with SIGTERM, or SIGKILL once the stop timeout has passed', async () => {
    const cloud = createSimulatedCloud({
      seed: 1,
      images: { 'slow:1': { shutdownMs: 30_000 }, 'stubborn:1': { ignoresSigterm: true } },
    });
    await withRunningApp(cloud);
    for (const image of ['slow:1', 'stubborn:1']) {
      await cloud.containers.pullImage({ instanceId: 'i-1', image, registry: 'quay' });
      await cloud.containers.startContainer({ containerId: image, instanceId: 'i-1', image });
    }
    expect(await cloud.containers.stopContainer({ containerId: 'web-1' })).toEqual({
      stoppedBy: 'SIGTERM',
      elapsedMs: D.stopContainer,
    });
    const before = elapsed(cloud);
    expect(await cloud.containers.stopContainer({ containerId: 'slow:1' })).toEqual({
      stoppedBy: 'SIGKILL',
      elapsedMs: 10_000,
    });
    expect(elapsed(cloud) - before).toBe(10_000);
    expect(
      await cloud.containers.stopContainer({ containerId: 'stubborn:1', stopTimeoutMs: 3_000 }),
    ).toEqual({ stoppedBy: 'SIGKILL', elapsedMs: 3_000 });
    expect(await cloud.containers.stopContainer({ containerId: 'web-1' })).toEqual({
      stoppedBy: 'already-stopped',
      elapsedMs: 0,
    });
    expect(cloud.snapshot().containers['slow:1']?.state).toBe('exited');
  });

  it('removes only stopped containers', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningApp(cloud);
    expect(await rejection(cloud.containers.removeContainer('web-1'))).toMatchObject({
      code: 'CONTAINER_RUNNING',
    });
    await cloud.containers.stopContainer({ containerId: 'web-1' });
    await cloud.containers.removeContainer('web-1');
    await cloud.containers.removeContainer('web-1');
    expect(cloud.snapshot().containers).toEqual({});
  });

  it('terminating an instance removes its containers but keeps its volumes', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningDatabase(cloud);
    await cloud.compute.terminateInstance('i-1');
    const snapshot = cloud.snapshot();
    expect(snapshot.instances).toEqual({});
    expect(snapshot.containers).toEqual({});
    expect(snapshot.volumes['vol-1']).toEqual({
      id: 'vol-1',
      sizeGb: 10,
      attachedTo: null,
      mounted: false,
      mountPath: null,
    });
  });
});

describe('simulated cloud: volumes', () => {
  it('attaches a volume to at most one instance', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningDatabase(cloud);
    await cloud.compute.ensureInstance({ instanceId: 'i-2' });
    const error = await rejection(
      cloud.volumes.attachVolume({ volumeId: 'vol-1', instanceId: 'i-2' }),
    );
    expect(error).toMatchObject({ code: 'VOLUME_IN_USE', call: 'attachVolume' });
    expect((error as Error).message).toContain('detach it first');
    expect(cloud.snapshot().volumes['vol-1']?.attachedTo).toBe('i-1');
  });

  it('enforces stop, unmount, detach in that order', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningDatabase(cloud);
    expect(await rejection(cloud.volumes.unmountVolume('vol-1'))).toMatchObject({
      code: 'VOLUME_BUSY',
    });
    expect(await rejection(cloud.volumes.detachVolume('vol-1'))).toMatchObject({
      code: 'VOLUME_MOUNTED',
    });
    expect(await rejection(cloud.volumes.deleteVolume('vol-1'))).toMatchObject({
      code: 'VOLUME_IN_USE',
    });
    await cloud.containers.stopContainer({ containerId: 'db-1' });
    await cloud.volumes.unmountVolume('vol-1');
    await cloud.volumes.detachVolume('vol-1');
    await cloud.volumes.detachVolume('vol-1');
    expect(cloud.snapshot().volumes['vol-1']).toMatchObject({ attachedTo: null, mounted: false });
  });

  it('only grows volumes', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await cloud.volumes.createVolume({ volumeId: 'v', sizeGb: 10 });
    await cloud.volumes.resizeVolume({ volumeId: 'v', sizeGb: 20 });
    expect(await rejection(cloud.volumes.resizeVolume({ volumeId: 'v', sizeGb: 5 }))).toMatchObject(
      { code: 'INVALID_REQUEST' },
    );
    expect(cloud.snapshot().volumes['v']?.sizeGb).toBe(20);
    expect(
      await rejection(cloud.volumes.createVolume({ volumeId: 'v', sizeGb: 10 })),
    ).toMatchObject({ code: 'CONFLICT' });
  });

  it('starts a database container only with its volume attached and mounted there', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await cloud.compute.ensureInstance({ instanceId: 'i-1' });
    await cloud.containers.pullImage({ instanceId: 'i-1', image: 'pg', registry: 'quay' });
    await cloud.volumes.createVolume({ volumeId: 'v', sizeGb: 1 });
    const spec = { containerId: 'db-1', instanceId: 'i-1', image: 'pg', volumeId: 'v' };
    expect(await rejection(cloud.containers.startContainer(spec))).toMatchObject({
      code: 'VOLUME_NOT_ATTACHED',
    });
    await cloud.volumes.attachVolume({ volumeId: 'v', instanceId: 'i-1' });
    expect(await rejection(cloud.containers.startContainer(spec))).toMatchObject({
      code: 'VOLUME_NOT_MOUNTED',
    });
    await cloud.volumes.mountVolume({ volumeId: 'v', mountPath: '/data' });
    await cloud.containers.startContainer(spec);
    expect(cloud.snapshot().volumes['v']?.mountPath).toBe('/data');
  });
});

describe('simulated cloud: load balancer and downtime', () => {
  it('drains a deregistered target for 15 s by default before resolving', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningApp(cloud);
    await cloud.loadBalancer.createEndpoint({ endpointId: 'ep' });
    await cloud.loadBalancer.registerTarget({ endpointId: 'ep', containerId: 'web-1' });
    const before = elapsed(cloud);
    await cloud.loadBalancer.deregisterTarget({ endpointId: 'ep', containerId: 'web-1' });
    expect(elapsed(cloud) - before).toBe(D.deregisterTarget + 15_000);
    const events = cloud.timeline().filter((e) => e.kind.startsWith('target-dr'));
    expect(events.map((e) => [e.kind, e.at - START - before])).toEqual([
      ['target-draining', D.deregisterTarget],
      ['target-drained', D.deregisterTarget + 15_000],
    ]);
    expect(cloud.snapshot().endpoints['ep']).toEqual({ id: 'ep', targets: [], draining: [] });
  });

  it('keeps the target draining when the wait is aborted, and ends the drain on time', async () => {
    const virtual = createVirtualClock();
    const controller = new AbortController();
    let armed = false;
    // Cancel exactly while the caller waits for the drain, after the call itself completed.
    const clock = {
      now: () => virtual.now(),
      sleep: (ms: number, signal?: AbortSignal) => {
        if (armed && ms === 20_000) controller.abort(new Error('cancelled'));
        return virtual.sleep(ms, signal);
      },
    };
    const cloud = createSimulatedCloud({ seed: 1, clock });
    await withRunningApp(cloud);
    await cloud.loadBalancer.createEndpoint({ endpointId: 'ep' });
    await cloud.loadBalancer.registerTarget({ endpointId: 'ep', containerId: 'web-1' });
    armed = true;
    await expect(
      cloud.loadBalancer.deregisterTarget(
        { endpointId: 'ep', containerId: 'web-1', drainMs: 20_000 },
        { signal: controller.signal },
      ),
    ).rejects.toThrow('cancelled');
    const until = new Date(virtual.now().getTime() + 20_000).toISOString();
    expect(cloud.snapshot().endpoints['ep']).toEqual({
      id: 'ep',
      targets: [],
      draining: [{ containerId: 'web-1', until }],
    });
    virtual.advance(19_999);
    expect(cloud.snapshot().endpoints['ep']?.draining).toHaveLength(1);
    virtual.advance(1);
    expect(cloud.snapshot().endpoints['ep']?.draining).toEqual([]);
    const drained = cloud.timeline().find((e) => e.kind === 'target-drained');
    expect(drained?.at).toBe(Date.parse(until));
  });

  it('counts endpoint downtime only while no healthy registered target serves', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningApp(cloud);
    await cloud.loadBalancer.createEndpoint({ endpointId: 'ep' });
    // Time before the first healthy target is provisioning, not downtime.
    await cloud.compute.describeInstance('i-1');
    await cloud.loadBalancer.registerTarget({ endpointId: 'ep', containerId: 'web-1' });
    expect(cloud.downtime().endpoints).toEqual({ ep: 0 });
    await cloud.containers.stopContainer({ containerId: 'web-1' });
    const downAt = elapsed(cloud);
    await cloud.containers.startContainer({
      containerId: 'web-1',
      instanceId: 'i-1',
      image: 'app:v1',
    });
    expect(cloud.downtime().endpoints).toEqual({ ep: elapsed(cloud) - downAt });
    expect(cloud.downtime().endpoints['ep']).toBe(D.startContainer);
  });

  it('a blue-green switch with overlap has zero downtime', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningApp(cloud);
    await cloud.loadBalancer.createEndpoint({ endpointId: 'ep' });
    await cloud.loadBalancer.registerTarget({ endpointId: 'ep', containerId: 'web-1' });
    await cloud.containers.pullImage({ instanceId: 'i-1', image: 'app:v2', registry: 'quay' });
    await cloud.containers.startContainer({
      containerId: 'web-2',
      instanceId: 'i-1',
      image: 'app:v2',
    });
    await cloud.loadBalancer.registerTarget({ endpointId: 'ep', containerId: 'web-2' });
    await cloud.loadBalancer.deregisterTarget({ endpointId: 'ep', containerId: 'web-1' });
    await cloud.containers.stopContainer({ containerId: 'web-1' });
    expect(cloud.downtime().endpoints).toEqual({ ep: 0 });
    expect(cloud.snapshot().endpoints['ep']?.targets).toEqual(['web-2']);
  });

  it('an ongoing outage counts up to now', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningApp(cloud);
    await cloud.loadBalancer.createEndpoint({ endpointId: 'ep' });
    await cloud.loadBalancer.registerTarget({ endpointId: 'ep', containerId: 'web-1' });
    cloud.setImageBehaviour('app:v1', { responds: false });
    (cloud.clock as ReturnType<typeof createVirtualClock>).advance(4_321);
    expect(cloud.downtime().endpoints['ep']).toBe(4_321);
  });

  it('a database redeploy is down only between its stop and its start', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningDatabase(cloud);
    expect(await cloud.databases.acceptsConnections('db')).toBe(true);
    // Preconditions while the old container still serves: no downtime yet.
    await cloud.compute.ensureInstance({ instanceId: 'i-2' });
    await cloud.containers.pullImage({ instanceId: 'i-2', image: 'postgres:16', registry: 'quay' });
    expect(cloud.downtime().databases).toEqual({ db: 0 });
    await cloud.containers.stopContainer({ containerId: 'db-1' });
    expect(await cloud.databases.acceptsConnections('db')).toBe(false);
    await cloud.volumes.unmountVolume('vol-1');
    await cloud.volumes.detachVolume('vol-1');
    await cloud.volumes.attachVolume({ volumeId: 'vol-1', instanceId: 'i-2' });
    await cloud.volumes.mountVolume({ volumeId: 'vol-1' });
    await cloud.containers.startContainer({
      containerId: 'db-2',
      instanceId: 'i-2',
      image: 'postgres:16',
      volumeId: 'vol-1',
    });
    expect(await cloud.databases.acceptsConnections('db')).toBe(true);
    expect(cloud.downtime().databases).toEqual({
      db:
        D.acceptsConnections +
        D.unmountVolume +
        D.detachVolume +
        D.attachVolume +
        D.mountVolume +
        D.startContainer,
    });
  });
});

describe('simulated cloud: faults', () => {
  it('fails exactly the calls that start inside an outage window, with a typed error', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    cloud.faults.outage('registry:docker-hub', { from: START, to: START + D.ensureInstance + 1 });
    await cloud.compute.ensureInstance({ instanceId: 'i-1' });
    const error = await rejection(
      cloud.containers.pullImage({ instanceId: 'i-1', image: 'app', registry: 'docker-hub' }),
    );
    expect(error).toBeInstanceOf(CloudServiceError);
    expect(error).toMatchObject({
      service: 'registry:docker-hub',
      call: 'pullImage',
      code: 'OUTAGE',
      retryable: true,
    });
    // Failover to the other registry works during the outage.
    await cloud.containers.pullImage({ instanceId: 'i-1', image: 'app', registry: 'quay' });
    // The window is over: the same call succeeds.
    await cloud.containers.pullImage({ instanceId: 'i-1', image: 'app2', registry: 'docker-hub' });
    expect(cloud.snapshot().instances['i-1']?.images).toEqual(['app', 'app2']);
    expect(cloud.timeline().filter((e) => e.kind === 'call-failed')).toHaveLength(1);
  });

  it('an error rate of 1 fails every call of the service and nothing else', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    cloud.faults.errorRate('object-storage', 1);
    await cloud.compute.ensureInstance({ instanceId: 'i-1' });
    expect(
      await rejection(cloud.objectStorage.putObject({ bucket: 'b', key: 'k', body: 'x' })),
    ).toMatchObject({ code: 'ERROR_RATE', service: 'object-storage', retryable: true });
    cloud.faults.errorRate('object-storage', 0);
    await cloud.objectStorage.putObject({ bucket: 'b', key: 'k', body: 'x' });
    expect(await cloud.objectStorage.getObject({ bucket: 'b', key: 'k' })).toBe('x');
  });

  it('the same seed fails the same calls; another seed differs', async () => {
    const run = async (seed: number) => {
      const cloud = createSimulatedCloud({ seed });
      cloud.faults.errorRate('object-storage', 0.5);
      const outcomes: boolean[] = [];
      for (let i = 0; i < 40; i++) {
        outcomes.push(
          await cloud.objectStorage.getObject({ bucket: 'b', key: 'k' }).then(
            () => true,
            () => false,
          ),
        );
      }
      return outcomes;
    };
    const a = await run(42);
    expect(await run(42)).toEqual(a);
    expect(await run(43)).not.toEqual(a);
    expect(a).toContain(true);
    expect(a).toContain(false);
  });

  it('crashes an instance at a virtual time: containers exit, mounts go, the database is down', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningDatabase(cloud);
    const crashAt = START + elapsed(cloud) + D.putObject / 2;
    cloud.faults.crashInstance('i-1', { at: crashAt });
    await cloud.objectStorage.putObject({ bucket: 'b', key: 'k', body: 'x' });
    const snapshot = cloud.snapshot();
    expect(snapshot.instances['i-1']?.state).toBe('crashed');
    expect(snapshot.containers['db-1']?.state).toBe('exited');
    expect(snapshot.volumes['vol-1']).toMatchObject({ attachedTo: 'i-1', mounted: false });
    const crashEntry = cloud.timeline().find((e) => e.kind === 'instance-crashed');
    expect(crashEntry?.at).toBe(crashAt);
    expect(cloud.downtime().databases['db']).toBe(START + elapsed(cloud) - crashAt);

    const error = await rejection(
      cloud.containers.startContainer({
        containerId: 'db-1',
        instanceId: 'i-1',
        image: 'postgres:16',
      }),
    );
    expect(error).toMatchObject({ code: 'INSTANCE_CRASHED', retryable: false, instanceId: 'i-1' });
    // A crashed instance's volume can be detached and moved: the data is not lost.
    await cloud.volumes.detachVolume('vol-1');
    await cloud.compute.ensureInstance({ instanceId: 'i-1' });
    expect(cloud.snapshot().instances['i-1']?.state).toBe('available');
  });

  it('crashes an instance before or after a chosen call', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await cloud.compute.ensureInstance({ instanceId: 'i-1' });
    cloud.faults.crashInstanceOnCall('i-1', { call: 'pullImage', occurrence: 2 });
    await cloud.containers.pullImage({ instanceId: 'i-1', image: 'a', registry: 'quay' });
    expect(
      await rejection(
        cloud.containers.pullImage({ instanceId: 'i-1', image: 'b', registry: 'quay' }),
      ),
    ).toMatchObject({ code: 'INSTANCE_CRASHED', service: 'compute', call: 'pullImage' });

    await cloud.compute.ensureInstance({ instanceId: 'i-1' });
    cloud.faults.crashInstanceOnCall('i-1', { call: 'startContainer', timing: 'after' });
    await cloud.containers.startContainer({ containerId: 'c', instanceId: 'i-1', image: 'a' });
    const snapshot = cloud.snapshot();
    expect(snapshot.instances['i-1']?.state).toBe('crashed');
    expect(snapshot.containers['c']?.state).toBe('exited');
    expect(snapshot.instances['i-1']?.images).toEqual(['a']);
  });

  it('an aborted call rejects with the reason and has no effect', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(
      cloud.compute.ensureInstance({ instanceId: 'i-1' }, { signal: controller.signal }),
    ).rejects.toThrow('stop');
    expect(cloud.snapshot().instances).toEqual({});
    expect(elapsed(cloud)).toBe(0);
  });
});

describe('simulated cloud: snapshots and object storage', () => {
  it('snapshots are deep, JSON-serialisable copies', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await withRunningDatabase(cloud);
    await cloud.objectStorage.putObject({ bucket: 'backups', key: 'db/1', body: 'dump' });
    const snapshot = cloud.snapshot();
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
    snapshot.volumes['vol-1']!.attachedTo = 'elsewhere';
    snapshot.instances['i-1']!.images.push('evil');
    snapshot.objects['backups']!['db/1'] = 'tampered';
    const fresh = cloud.snapshot();
    expect(fresh.volumes['vol-1']?.attachedTo).toBe('i-1');
    expect(fresh.instances['i-1']?.images).toEqual(['postgres:16']);
    expect(fresh.objects).toEqual({ backups: { 'db/1': 'dump' } });
    const described = await cloud.volumes.describeVolume('vol-1');
    described!.mounted = false;
    expect(cloud.snapshot().volumes['vol-1']?.mounted).toBe(true);
  });

  it('puts, gets and deletes objects idempotently', async () => {
    const cloud = createSimulatedCloud({ seed: 1 });
    await cloud.objectStorage.putObject({ bucket: 'b', key: 'k', body: 'v1' });
    await cloud.objectStorage.putObject({ bucket: 'b', key: 'k', body: 'v2' });
    expect(await cloud.objectStorage.getObject({ bucket: 'b', key: 'k' })).toBe('v2');
    await cloud.objectStorage.deleteObject({ bucket: 'b', key: 'k' });
    await cloud.objectStorage.deleteObject({ bucket: 'b', key: 'k' });
    expect(await cloud.objectStorage.getObject({ bucket: 'b', key: 'k' })).toBeUndefined();
    expect(cloud.snapshot().objects).toEqual({});
  });
});
