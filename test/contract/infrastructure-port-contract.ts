import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CloudRequestError,
  CloudServiceError,
  type CloudRequestCode,
} from '../../src/catalog/cloud-errors.js';
import type {
  HealthCheckResult,
  InfrastructurePort,
} from '../../src/catalog/infrastructure-port.js';

/**
 * The contract every implementation of the InfrastructurePort (the simulated cloud, the local
 * infrastructure) must pass: what the catalog's steps rely on, call by call. It checks states and
 * refusal codes, never durations, so that it holds on a virtual clock and on real processes.
 *
 * `factory` must return an infrastructure that is EMPTY and not shared with any other test, and
 * `image`, a reference that `pullImage` from 'docker-hub' can fetch and whose containers run an
 * HTTP app answering 200 on '/' and '/healthcheck'. `crash`, when given, crashes an instance (its
 * containers die, its mounts are gone). After each test, failed or not, the suite calls `close`.
 */
export interface InfrastructurePortFixture {
  infra: InfrastructurePort;
  image: string;
  crash?(instanceId: string): Promise<void>;
  close(): Promise<void>;
}

export type InfrastructurePortFactory = () => Promise<InfrastructurePortFixture>;

/** How long a test waits for a container's app to answer (real processes need a moment). */
const HEALTHY_WITHIN_MS = 5_000;

/** The rejection of `attempt`; fails the test when it resolves. */
const rejectionOf = async (attempt: Promise<unknown>, what: string): Promise<unknown> =>
  attempt.then(
    () => {
      throw new Error(`Expected ${what} to be refused, but it succeeded`);
    },
    (e: unknown) => e,
  );

/** Expects a CloudRequestError with `code` naming `call`. */
const expectRefusal = async (
  attempt: Promise<unknown>,
  call: string,
  code: CloudRequestCode,
): Promise<void> => {
  const error = await rejectionOf(attempt, `${call} (${code})`);
  expect(error, String(error)).toBeInstanceOf(CloudRequestError);
  const refusal = error as CloudRequestError;
  expect(refusal.code, refusal.message).toBe(code);
  expect(refusal.call).toBe(call);
  expect(refusal.retryable).toBe(false);
};

const expectInstanceCrashed = async (
  attempt: Promise<unknown>,
  call: string,
  instanceId: string,
): Promise<void> => {
  const error = await rejectionOf(attempt, `${call} on crashed instance ${instanceId}`);
  expect(error, String(error)).toBeInstanceOf(CloudServiceError);
  const failure = error as CloudServiceError;
  expect(failure.code, failure.message).toBe('INSTANCE_CRASHED');
  expect(failure.service).toBe('compute');
  expect(failure.call).toBe(call);
  expect(failure.instanceId).toBe(instanceId);
  expect(failure.retryable).toBe(false);
};

export const describeInfrastructurePortContract = (
  name: string,
  factory: InfrastructurePortFactory,
): void => {
  describe(`infrastructure port contract: ${name}`, () => {
    let fixture: InfrastructurePortFixture | undefined;
    let infra: InfrastructurePort;
    let image: string;

    beforeEach(async () => {
      fixture = await factory();
      ({ infra, image } = fixture);
    });

    afterEach(async () => {
      const closing = fixture;
      fixture = undefined;
      await closing?.close();
    });

    /** An instance with the app's image pulled from Docker Hub. */
    const instanceWithImage = async (instanceId: string) => {
      await infra.compute.ensureInstance({ instanceId });
      await infra.containers.pullImage({ instanceId, image, registry: 'docker-hub' });
    };

    /** Polls the health check until it passes or `HEALTHY_WITHIN_MS` is over; the last result. */
    const pollHealth = async (containerId: string, strict = false): Promise<HealthCheckResult> => {
      const deadline = Date.now() + HEALTHY_WITHIN_MS;
      for (;;) {
        const result = await infra.containers.checkHealth({ containerId, strict });
        if (result.healthy || Date.now() >= deadline) return result;
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    /** A volume created, attached to `instanceId` and mounted at its default path. */
    const mountedVolume = async (volumeId: string, instanceId: string) => {
      await infra.volumes.createVolume({ volumeId, sizeGb: 1 });
      await infra.volumes.attachVolume({ volumeId, instanceId });
      await infra.volumes.mountVolume({ volumeId });
    };

    describe('instances', () => {
      it('ensureInstance launches an instance and returns its view', async () => {
        const view = await infra.compute.ensureInstance({ instanceId: 'i-1', size: 'large' });
        expect(view).toEqual({ id: 'i-1', size: 'large', state: 'available', images: [] });
        expect(await infra.compute.describeInstance('i-1')).toEqual(view);
        const standard = await infra.compute.ensureInstance({ instanceId: 'i-2' });
        expect(standard).toEqual({ id: 'i-2', size: 'standard', state: 'available', images: [] });
      });

      it('ensureInstance is idempotent: the same instance, its size and pulled images kept', async () => {
        await infra.compute.ensureInstance({ instanceId: 'i-1', size: 'large' });
        await infra.containers.pullImage({ instanceId: 'i-1', image, registry: 'docker-hub' });
        // Pulling again is a no-op as well.
        await infra.containers.pullImage({ instanceId: 'i-1', image, registry: 'docker-hub' });
        const again = await infra.compute.ensureInstance({ instanceId: 'i-1', size: 'small' });
        expect(again).toEqual({ id: 'i-1', size: 'large', state: 'available', images: [image] });
        expect(await infra.compute.describeInstance('i-1')).toEqual(again);
      });

      it('describeInstance of an unknown instance is undefined', async () => {
        expect(await infra.compute.describeInstance('nope')).toBeUndefined();
        await infra.compute.ensureInstance({ instanceId: 'i-1' });
        expect(await infra.compute.describeInstance('i-2')).toBeUndefined();
      });

      it('calls on an unknown instance are refused with NOT_FOUND', async () => {
        await expectRefusal(
          infra.containers.pullImage({ instanceId: 'nope', image, registry: 'docker-hub' }),
          'pullImage',
          'NOT_FOUND',
        );
        await expectRefusal(
          infra.containers.startContainer({ containerId: 'c-1', instanceId: 'nope', image }),
          'startContainer',
          'NOT_FOUND',
        );
      });

      it('terminateInstance removes its containers and detaches (never deletes) its volumes', async () => {
        await instanceWithImage('i-1');
        await infra.compute.ensureInstance({ instanceId: 'i-2' });
        await infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image });
        await mountedVolume('v-1', 'i-1');
        await infra.containers.startContainer({
          containerId: 'c-2',
          instanceId: 'i-1',
          image,
          volumeId: 'v-1',
        });
        await infra.volumes.createVolume({ volumeId: 'v-2', sizeGb: 2 });
        await infra.volumes.attachVolume({ volumeId: 'v-2', instanceId: 'i-1' });

        await infra.compute.terminateInstance('i-1');

        expect(await infra.compute.describeInstance('i-1')).toBeUndefined();
        expect(await infra.containers.describeContainer('c-1')).toBeUndefined();
        expect(await infra.containers.describeContainer('c-2')).toBeUndefined();
        expect(await infra.containers.checkHealth({ containerId: 'c-1' })).toEqual({
          healthy: false,
          path: '/',
          status: null,
        });
        expect(await infra.volumes.describeVolume('v-1')).toEqual({
          id: 'v-1',
          sizeGb: 1,
          attachedTo: null,
          mounted: false,
          mountPath: null,
        });
        expect(await infra.volumes.describeVolume('v-2')).toEqual({
          id: 'v-2',
          sizeGb: 2,
          attachedTo: null,
          mounted: false,
          mountPath: null,
        });
        // The volume outlived the instance: it can be attached and mounted elsewhere.
        await infra.volumes.attachVolume({ volumeId: 'v-1', instanceId: 'i-2' });
        await infra.volumes.mountVolume({ volumeId: 'v-1' });
        expect((await infra.volumes.describeVolume('v-1'))?.attachedTo).toBe('i-2');
        // The other instance is untouched.
        expect((await infra.compute.describeInstance('i-2'))?.state).toBe('available');
      });

      it('terminateInstance of an unknown instance is a no-op; a terminated one can be launched again', async () => {
        await infra.compute.terminateInstance('nope');
        await instanceWithImage('i-1');
        await infra.compute.terminateInstance('i-1');
        await infra.compute.terminateInstance('i-1');
        expect(await infra.compute.ensureInstance({ instanceId: 'i-1' })).toEqual({
          id: 'i-1',
          size: 'standard',
          state: 'available',
          images: [],
        });
      });

      it('a crashed instance refuses work with INSTANCE_CRASHED until ensureInstance reboots it', async (ctx) => {
        const crash = fixture?.crash;
        if (!crash) {
          ctx.skip();
          return;
        }
        await instanceWithImage('i-1');
        await infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image });
        expect((await pollHealth('c-1')).healthy).toBe(true);
        await mountedVolume('v-1', 'i-1');

        await crash('i-1');

        expect((await infra.compute.describeInstance('i-1'))?.state).toBe('crashed');
        expect((await infra.containers.describeContainer('c-1'))?.state).toBe('exited');
        expect(await infra.containers.checkHealth({ containerId: 'c-1' })).toEqual({
          healthy: false,
          path: '/',
          status: null,
        });
        // Mounts do not survive a crash; the attachment does.
        expect(await infra.volumes.describeVolume('v-1')).toMatchObject({
          attachedTo: 'i-1',
          mounted: false,
          mountPath: null,
        });
        await expectInstanceCrashed(
          infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image }),
          'startContainer',
          'i-1',
        );
        await expectInstanceCrashed(
          infra.containers.startContainer({ containerId: 'c-2', instanceId: 'i-1', image }),
          'startContainer',
          'i-1',
        );
        await expectInstanceCrashed(
          infra.containers.pullImage({ instanceId: 'i-1', image, registry: 'docker-hub' }),
          'pullImage',
          'i-1',
        );
        await expectInstanceCrashed(
          infra.containers.removeContainer('c-1'),
          'removeContainer',
          'i-1',
        );

        const rebooted = await infra.compute.ensureInstance({ instanceId: 'i-1' });
        expect(rebooted).toEqual({
          id: 'i-1',
          size: 'standard',
          state: 'available',
          images: [image],
        });
        // The exited container starts again, and answers again.
        const started = await infra.containers.startContainer({
          containerId: 'c-1',
          instanceId: 'i-1',
          image,
        });
        expect(started.state).toBe('running');
        expect((await pollHealth('c-1')).healthy).toBe(true);
        await infra.containers.pullImage({ instanceId: 'i-1', image, registry: 'docker-hub' });
        await infra.volumes.mountVolume({ volumeId: 'v-1' });
        expect((await infra.volumes.describeVolume('v-1'))?.mounted).toBe(true);
      });
    });

    describe('containers', () => {
      it('startContainer before the image is pulled is refused with IMAGE_NOT_PULLED', async () => {
        await infra.compute.ensureInstance({ instanceId: 'i-1' });
        await expectRefusal(
          infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image }),
          'startContainer',
          'IMAGE_NOT_PULLED',
        );
        expect(await infra.containers.describeContainer('c-1')).toBeUndefined();
        // Pulled onto another instance does not count.
        await instanceWithImage('i-2');
        await expectRefusal(
          infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image }),
          'startContainer',
          'IMAGE_NOT_PULLED',
        );
      });

      it('startContainer returns the view of a running container, with defaults', async () => {
        await instanceWithImage('i-1');
        const view = await infra.containers.startContainer({
          containerId: 'c-1',
          instanceId: 'i-1',
          image,
          env: { RAILS_ENV: 'production' },
        });
        expect(view).toEqual({
          id: 'c-1',
          instanceId: 'i-1',
          image,
          command: [],
          env: { RAILS_ENV: 'production' },
          sizeMb: 512,
          volumeId: null,
          state: 'running',
        });
        expect(await infra.containers.describeContainer('c-1')).toEqual(view);
        expect(await infra.containers.describeContainer('nope')).toBeUndefined();
      });

      it('startContainer is idempotent: the same id while running returns it unchanged', async () => {
        await instanceWithImage('i-1');
        const first = await infra.containers.startContainer({
          containerId: 'c-1',
          instanceId: 'i-1',
          image,
          env: { A: '1' },
        });
        const again = await infra.containers.startContainer({
          containerId: 'c-1',
          instanceId: 'i-1',
          image,
          env: { A: '2' },
        });
        expect(again).toEqual(first);
        expect(await infra.containers.describeContainer('c-1')).toEqual(first);
      });

      it('startContainer of an existing id with another image or instance is refused with CONFLICT', async () => {
        await instanceWithImage('i-1');
        await instanceWithImage('i-2');
        await infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image });
        await expectRefusal(
          infra.containers.startContainer({
            containerId: 'c-1',
            instanceId: 'i-1',
            image: `${image}-other`,
          }),
          'startContainer',
          'CONFLICT',
        );
        await expectRefusal(
          infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-2', image }),
          'startContainer',
          'CONFLICT',
        );
        // Still a conflict once exited: the id is taken until the container is removed.
        await infra.containers.stopContainer({ containerId: 'c-1' });
        await expectRefusal(
          infra.containers.startContainer({
            containerId: 'c-1',
            instanceId: 'i-1',
            image: `${image}-other`,
          }),
          'startContainer',
          'CONFLICT',
        );
        expect(await infra.containers.describeContainer('c-1')).toMatchObject({
          image,
          instanceId: 'i-1',
          state: 'exited',
        });
      });

      it('checkHealth is healthy on a running app, non-strict on / and strict on /healthcheck', async () => {
        await instanceWithImage('i-1');
        await infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image });
        expect(await pollHealth('c-1')).toEqual({ healthy: true, path: '/', status: 200 });
        expect(await pollHealth('c-1', true)).toEqual({
          healthy: true,
          path: '/healthcheck',
          status: 200,
        });
      });

      it('checkHealth of an unknown or stopped container: unhealthy, nothing answered', async () => {
        expect(await infra.containers.checkHealth({ containerId: 'nope' })).toEqual({
          healthy: false,
          path: '/',
          status: null,
        });
        await instanceWithImage('i-1');
        await infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image });
        expect((await pollHealth('c-1')).healthy).toBe(true);
        await infra.containers.stopContainer({ containerId: 'c-1' });
        expect(await infra.containers.checkHealth({ containerId: 'c-1', strict: true })).toEqual({
          healthy: false,
          path: '/healthcheck',
          status: null,
        });
      });

      it('stopContainer stops a well-behaved app with SIGTERM, then reports already-stopped', async () => {
        await instanceWithImage('i-1');
        await infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image });
        expect((await pollHealth('c-1')).healthy).toBe(true);
        const stopped = await infra.containers.stopContainer({
          containerId: 'c-1',
          stopTimeoutMs: 5_000,
        });
        expect(stopped.stoppedBy).toBe('SIGTERM');
        expect(stopped.elapsedMs).toBeGreaterThanOrEqual(0);
        expect((await infra.containers.describeContainer('c-1'))?.state).toBe('exited');
        expect(await infra.containers.stopContainer({ containerId: 'c-1' })).toEqual({
          stoppedBy: 'already-stopped',
          elapsedMs: 0,
        });
        expect(await infra.containers.stopContainer({ containerId: 'nope' })).toEqual({
          stoppedBy: 'already-stopped',
          elapsedMs: 0,
        });
      });

      it('an exited container is started again by startContainer', async () => {
        await instanceWithImage('i-1');
        await infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image });
        await infra.containers.stopContainer({ containerId: 'c-1' });
        const again = await infra.containers.startContainer({
          containerId: 'c-1',
          instanceId: 'i-1',
          image,
        });
        expect(again.state).toBe('running');
        expect((await pollHealth('c-1')).healthy).toBe(true);
      });

      it('removeContainer of a running container is refused with CONTAINER_RUNNING', async () => {
        await instanceWithImage('i-1');
        await infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image });
        await expectRefusal(
          infra.containers.removeContainer('c-1'),
          'removeContainer',
          'CONTAINER_RUNNING',
        );
        expect((await infra.containers.describeContainer('c-1'))?.state).toBe('running');
      });

      it('removeContainer after stop removes it; removing it again, or an unknown one, is a no-op', async () => {
        await instanceWithImage('i-1');
        await infra.containers.startContainer({ containerId: 'c-1', instanceId: 'i-1', image });
        await infra.containers.stopContainer({ containerId: 'c-1' });
        await infra.containers.removeContainer('c-1');
        expect(await infra.containers.describeContainer('c-1')).toBeUndefined();
        await infra.containers.removeContainer('c-1');
        await infra.containers.removeContainer('nope');
        // The id is free again, even for another image.
        await expectRefusal(
          infra.containers.startContainer({
            containerId: 'c-1',
            instanceId: 'i-1',
            image: `${image}-other`,
          }),
          'startContainer',
          'IMAGE_NOT_PULLED',
        );
      });
    });

    describe('volumes', () => {
      it('createVolume returns its view and is idempotent; another size is a CONFLICT', async () => {
        const view = await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 10 });
        const detached = {
          id: 'v-1',
          sizeGb: 10,
          attachedTo: null,
          mounted: false,
          mountPath: null,
        };
        expect(view).toEqual(detached);
        expect(await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 10 })).toEqual(detached);
        expect(await infra.volumes.describeVolume('v-1')).toEqual(detached);
        await expectRefusal(
          infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 20 }),
          'createVolume',
          'CONFLICT',
        );
        expect(await infra.volumes.describeVolume('v-1')).toEqual(detached);
        expect(await infra.volumes.describeVolume('nope')).toBeUndefined();
      });

      it('createVolume refuses a size that is not a positive integer with INVALID_REQUEST', async () => {
        for (const sizeGb of [0, -1, 1.5]) {
          await expectRefusal(
            infra.volumes.createVolume({ volumeId: 'v-1', sizeGb }),
            'createVolume',
            'INVALID_REQUEST',
          );
        }
        expect(await infra.volumes.describeVolume('v-1')).toBeUndefined();
      });

      it('attachVolume refuses an unknown instance or volume with NOT_FOUND', async () => {
        await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 1 });
        await expectRefusal(
          infra.volumes.attachVolume({ volumeId: 'v-1', instanceId: 'nope' }),
          'attachVolume',
          'NOT_FOUND',
        );
        await infra.compute.ensureInstance({ instanceId: 'i-1' });
        await expectRefusal(
          infra.volumes.attachVolume({ volumeId: 'nope', instanceId: 'i-1' }),
          'attachVolume',
          'NOT_FOUND',
        );
        expect((await infra.volumes.describeVolume('v-1'))?.attachedTo).toBeNull();
      });

      it('attachVolume is idempotent, and refuses a volume attached elsewhere with VOLUME_IN_USE', async () => {
        await infra.compute.ensureInstance({ instanceId: 'i-1' });
        await infra.compute.ensureInstance({ instanceId: 'i-2' });
        await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 1 });
        await infra.volumes.attachVolume({ volumeId: 'v-1', instanceId: 'i-1' });
        await infra.volumes.attachVolume({ volumeId: 'v-1', instanceId: 'i-1' });
        await expectRefusal(
          infra.volumes.attachVolume({ volumeId: 'v-1', instanceId: 'i-2' }),
          'attachVolume',
          'VOLUME_IN_USE',
        );
        expect(await infra.volumes.describeVolume('v-1')).toEqual({
          id: 'v-1',
          sizeGb: 1,
          attachedTo: 'i-1',
          mounted: false,
          mountPath: null,
        });
      });

      it('mountVolume before attachVolume is refused with VOLUME_NOT_ATTACHED', async () => {
        await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 1 });
        await expectRefusal(
          infra.volumes.mountVolume({ volumeId: 'v-1' }),
          'mountVolume',
          'VOLUME_NOT_ATTACHED',
        );
        await expectRefusal(
          infra.volumes.mountVolume({ volumeId: 'nope' }),
          'mountVolume',
          'NOT_FOUND',
        );
        expect((await infra.volumes.describeVolume('v-1'))?.mounted).toBe(false);
      });

      it('mountPath defaults to /mnt/<id>; a given mountPath is kept; mounting again is a no-op', async () => {
        await infra.compute.ensureInstance({ instanceId: 'i-1' });
        await mountedVolume('v-1', 'i-1');
        expect(await infra.volumes.describeVolume('v-1')).toEqual({
          id: 'v-1',
          sizeGb: 1,
          attachedTo: 'i-1',
          mounted: true,
          mountPath: '/mnt/v-1',
        });
        await infra.volumes.createVolume({ volumeId: 'v-2', sizeGb: 1 });
        await infra.volumes.attachVolume({ volumeId: 'v-2', instanceId: 'i-1' });
        await infra.volumes.mountVolume({ volumeId: 'v-2', mountPath: '/var/lib/data' });
        expect(await infra.volumes.describeVolume('v-2')).toMatchObject({
          mounted: true,
          mountPath: '/var/lib/data',
        });
        // Already mounted: the mount stays where it is.
        await infra.volumes.mountVolume({ volumeId: 'v-2', mountPath: '/elsewhere' });
        expect((await infra.volumes.describeVolume('v-2'))?.mountPath).toBe('/var/lib/data');
      });

      it('detachVolume while mounted is refused with VOLUME_MOUNTED', async () => {
        await infra.compute.ensureInstance({ instanceId: 'i-1' });
        await mountedVolume('v-1', 'i-1');
        await expectRefusal(infra.volumes.detachVolume('v-1'), 'detachVolume', 'VOLUME_MOUNTED');
        expect(await infra.volumes.describeVolume('v-1')).toMatchObject({
          attachedTo: 'i-1',
          mounted: true,
        });
      });

      it('unmountVolume while a running container uses the volume is refused with VOLUME_BUSY', async () => {
        await instanceWithImage('i-1');
        await mountedVolume('v-1', 'i-1');
        const view = await infra.containers.startContainer({
          containerId: 'c-1',
          instanceId: 'i-1',
          image,
          volumeId: 'v-1',
        });
        expect(view.volumeId).toBe('v-1');
        await expectRefusal(infra.volumes.unmountVolume('v-1'), 'unmountVolume', 'VOLUME_BUSY');
        expect((await infra.volumes.describeVolume('v-1'))?.mounted).toBe(true);
        // Once its user has stopped, the volume can be unmounted.
        await infra.containers.stopContainer({ containerId: 'c-1' });
        await infra.volumes.unmountVolume('v-1');
        expect(await infra.volumes.describeVolume('v-1')).toMatchObject({
          mounted: false,
          mountPath: null,
        });
      });

      it('startContainer with a volume needs it attached to that instance and mounted', async () => {
        await instanceWithImage('i-1');
        await infra.compute.ensureInstance({ instanceId: 'i-2' });
        await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 1 });
        const spec = { containerId: 'c-1', instanceId: 'i-1', image, volumeId: 'v-1' };
        await expectRefusal(
          infra.containers.startContainer(spec),
          'startContainer',
          'VOLUME_NOT_ATTACHED',
        );
        await infra.volumes.attachVolume({ volumeId: 'v-1', instanceId: 'i-2' });
        await expectRefusal(
          infra.containers.startContainer(spec),
          'startContainer',
          'VOLUME_NOT_ATTACHED',
        );
        await infra.volumes.detachVolume('v-1');
        await infra.volumes.attachVolume({ volumeId: 'v-1', instanceId: 'i-1' });
        await expectRefusal(
          infra.containers.startContainer(spec),
          'startContainer',
          'VOLUME_NOT_MOUNTED',
        );
        await infra.volumes.mountVolume({ volumeId: 'v-1' });
        expect((await infra.containers.startContainer(spec)).state).toBe('running');
      });

      it('resizeVolume grows only: smaller is INVALID_REQUEST, the same size a no-op', async () => {
        await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 10 });
        await infra.volumes.resizeVolume({ volumeId: 'v-1', sizeGb: 10 });
        expect((await infra.volumes.describeVolume('v-1'))?.sizeGb).toBe(10);
        await expectRefusal(
          infra.volumes.resizeVolume({ volumeId: 'v-1', sizeGb: 5 }),
          'resizeVolume',
          'INVALID_REQUEST',
        );
        await expectRefusal(
          infra.volumes.resizeVolume({ volumeId: 'v-1', sizeGb: 10.5 }),
          'resizeVolume',
          'INVALID_REQUEST',
        );
        expect((await infra.volumes.describeVolume('v-1'))?.sizeGb).toBe(10);
        await infra.volumes.resizeVolume({ volumeId: 'v-1', sizeGb: 20 });
        expect((await infra.volumes.describeVolume('v-1'))?.sizeGb).toBe(20);
        await expectRefusal(
          infra.volumes.resizeVolume({ volumeId: 'nope', sizeGb: 20 }),
          'resizeVolume',
          'NOT_FOUND',
        );
        // An attached, mounted volume grows as well.
        await infra.compute.ensureInstance({ instanceId: 'i-1' });
        await infra.volumes.attachVolume({ volumeId: 'v-1', instanceId: 'i-1' });
        await infra.volumes.mountVolume({ volumeId: 'v-1' });
        await infra.volumes.resizeVolume({ volumeId: 'v-1', sizeGb: 30 });
        expect(await infra.volumes.describeVolume('v-1')).toMatchObject({
          sizeGb: 30,
          mounted: true,
        });
      });

      it('deleteVolume while attached is refused with VOLUME_IN_USE; deleting an unknown one is a no-op', async () => {
        await infra.compute.ensureInstance({ instanceId: 'i-1' });
        await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 1 });
        await infra.volumes.attachVolume({ volumeId: 'v-1', instanceId: 'i-1' });
        await expectRefusal(infra.volumes.deleteVolume('v-1'), 'deleteVolume', 'VOLUME_IN_USE');
        expect((await infra.volumes.describeVolume('v-1'))?.attachedTo).toBe('i-1');
        await infra.volumes.deleteVolume('nope');
      });

      it('a full cycle: create, attach, mount, unmount, detach, attach elsewhere, detach, delete', async () => {
        await infra.compute.ensureInstance({ instanceId: 'i-1' });
        await infra.compute.ensureInstance({ instanceId: 'i-2' });
        await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 5 });
        await infra.volumes.attachVolume({ volumeId: 'v-1', instanceId: 'i-1' });
        await infra.volumes.mountVolume({ volumeId: 'v-1' });
        await infra.volumes.unmountVolume('v-1');
        // Unmounting and detaching again are no-ops.
        await infra.volumes.unmountVolume('v-1');
        expect(await infra.volumes.describeVolume('v-1')).toEqual({
          id: 'v-1',
          sizeGb: 5,
          attachedTo: 'i-1',
          mounted: false,
          mountPath: null,
        });
        await infra.volumes.detachVolume('v-1');
        await infra.volumes.detachVolume('v-1');
        expect((await infra.volumes.describeVolume('v-1'))?.attachedTo).toBeNull();
        await infra.volumes.attachVolume({ volumeId: 'v-1', instanceId: 'i-2' });
        await infra.volumes.mountVolume({ volumeId: 'v-1', mountPath: '/data' });
        expect(await infra.volumes.describeVolume('v-1')).toEqual({
          id: 'v-1',
          sizeGb: 5,
          attachedTo: 'i-2',
          mounted: true,
          mountPath: '/data',
        });
        await infra.volumes.unmountVolume('v-1');
        await infra.volumes.detachVolume('v-1');
        await infra.volumes.deleteVolume('v-1');
        expect(await infra.volumes.describeVolume('v-1')).toBeUndefined();
        await infra.volumes.deleteVolume('v-1');
        await infra.volumes.unmountVolume('v-1');
        await infra.volumes.detachVolume('v-1');
        // The id is free again.
        expect((await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 7 })).sizeGb).toBe(7);
      });
    });

    describe('load balancer', () => {
      /** An endpoint `e-1` and running containers c-1.. on instance i-1. */
      const endpointWithContainers = async (...containerIds: string[]) => {
        await instanceWithImage('i-1');
        for (const containerId of containerIds) {
          await infra.containers.startContainer({ containerId, instanceId: 'i-1', image });
        }
        return infra.loadBalancer.createEndpoint({ endpointId: 'e-1' });
      };

      it('createEndpoint returns an empty endpoint and is idempotent', async () => {
        const created = await infra.loadBalancer.createEndpoint({ endpointId: 'e-1' });
        expect(created).toEqual({ id: 'e-1', targets: [], draining: [] });
        expect(await infra.loadBalancer.describeEndpoint('e-1')).toEqual(created);
        await endpointWithContainers('c-1');
        await infra.loadBalancer.registerTarget({ endpointId: 'e-1', containerId: 'c-1' });
        // Creating it again keeps its targets.
        expect(await infra.loadBalancer.createEndpoint({ endpointId: 'e-1' })).toEqual({
          id: 'e-1',
          targets: ['c-1'],
          draining: [],
        });
        expect(await infra.loadBalancer.describeEndpoint('nope')).toBeUndefined();
      });

      it('registerTarget refuses an unknown container or endpoint with NOT_FOUND', async () => {
        await endpointWithContainers('c-1');
        await expectRefusal(
          infra.loadBalancer.registerTarget({ endpointId: 'e-1', containerId: 'nope' }),
          'registerTarget',
          'NOT_FOUND',
        );
        await expectRefusal(
          infra.loadBalancer.registerTarget({ endpointId: 'nope', containerId: 'c-1' }),
          'registerTarget',
          'NOT_FOUND',
        );
        expect((await infra.loadBalancer.describeEndpoint('e-1'))?.targets).toEqual([]);
      });

      it('registerTarget keeps one entry per target, in registration order', async () => {
        await endpointWithContainers('c-1', 'c-2', 'c-3');
        for (const containerId of ['c-2', 'c-1', 'c-2', 'c-3', 'c-1']) {
          await infra.loadBalancer.registerTarget({ endpointId: 'e-1', containerId });
        }
        expect(await infra.loadBalancer.describeEndpoint('e-1')).toEqual({
          id: 'e-1',
          targets: ['c-2', 'c-1', 'c-3'],
          draining: [],
        });
      });

      it('deregisterTarget removes the target once drained; other targets keep their order', async () => {
        await endpointWithContainers('c-1', 'c-2', 'c-3');
        for (const containerId of ['c-1', 'c-2', 'c-3']) {
          await infra.loadBalancer.registerTarget({ endpointId: 'e-1', containerId });
        }
        await infra.loadBalancer.deregisterTarget({
          endpointId: 'e-1',
          containerId: 'c-2',
          drainMs: 50,
        });
        expect(await infra.loadBalancer.describeEndpoint('e-1')).toEqual({
          id: 'e-1',
          targets: ['c-1', 'c-3'],
          draining: [],
        });
        // Registered again, it goes to the end.
        await infra.loadBalancer.registerTarget({ endpointId: 'e-1', containerId: 'c-2' });
        expect((await infra.loadBalancer.describeEndpoint('e-1'))?.targets).toEqual([
          'c-1',
          'c-3',
          'c-2',
        ]);
      });

      it('deregisterTarget of a non-target, an unknown container or endpoint is a no-op', async () => {
        await endpointWithContainers('c-1', 'c-2');
        await infra.loadBalancer.registerTarget({ endpointId: 'e-1', containerId: 'c-1' });
        const before = await infra.loadBalancer.describeEndpoint('e-1');
        const drainMs = 50;
        await infra.loadBalancer.deregisterTarget({
          endpointId: 'e-1',
          containerId: 'c-2',
          drainMs,
        });
        await infra.loadBalancer.deregisterTarget({
          endpointId: 'e-1',
          containerId: 'nope',
          drainMs,
        });
        await infra.loadBalancer.deregisterTarget({
          endpointId: 'nope',
          containerId: 'c-1',
          drainMs,
        });
        expect(await infra.loadBalancer.describeEndpoint('e-1')).toEqual(before);
        expect(before?.targets).toEqual(['c-1']);
        // Deregistering twice: the second is a no-op.
        await infra.loadBalancer.deregisterTarget({
          endpointId: 'e-1',
          containerId: 'c-1',
          drainMs,
        });
        await infra.loadBalancer.deregisterTarget({
          endpointId: 'e-1',
          containerId: 'c-1',
          drainMs,
        });
        expect((await infra.loadBalancer.describeEndpoint('e-1'))?.targets).toEqual([]);
      });

      it('deleteEndpoint removes it (its containers stay); deleting it again is a no-op', async () => {
        await endpointWithContainers('c-1');
        await infra.loadBalancer.registerTarget({ endpointId: 'e-1', containerId: 'c-1' });
        await infra.loadBalancer.deleteEndpoint('e-1');
        expect(await infra.loadBalancer.describeEndpoint('e-1')).toBeUndefined();
        await infra.loadBalancer.deleteEndpoint('e-1');
        await infra.loadBalancer.deleteEndpoint('nope');
        expect((await infra.containers.describeContainer('c-1'))?.state).toBe('running');
        await expectRefusal(
          infra.loadBalancer.registerTarget({ endpointId: 'e-1', containerId: 'c-1' }),
          'registerTarget',
          'NOT_FOUND',
        );
        // It can be created again, empty.
        expect(await infra.loadBalancer.createEndpoint({ endpointId: 'e-1' })).toEqual({
          id: 'e-1',
          targets: [],
          draining: [],
        });
      });
    });

    describe('object storage', () => {
      it('putObject then getObject returns the body; a second put replaces it', async () => {
        await infra.objectStorage.putObject({ bucket: 'b-1', key: 'k', body: 'one' });
        expect(await infra.objectStorage.getObject({ bucket: 'b-1', key: 'k' })).toBe('one');
        await infra.objectStorage.putObject({ bucket: 'b-1', key: 'k', body: 'two' });
        expect(await infra.objectStorage.getObject({ bucket: 'b-1', key: 'k' })).toBe('two');
        // Buckets are separate.
        expect(await infra.objectStorage.getObject({ bucket: 'b-2', key: 'k' })).toBeUndefined();
        // An empty body is a body.
        await infra.objectStorage.putObject({ bucket: 'b-1', key: 'empty', body: '' });
        expect(await infra.objectStorage.getObject({ bucket: 'b-1', key: 'empty' })).toBe('');
      });

      it('getObject of a missing object is undefined; deleteObject removes it, and is a no-op when missing', async () => {
        expect(await infra.objectStorage.getObject({ bucket: 'b-1', key: 'k' })).toBeUndefined();
        await infra.objectStorage.deleteObject({ bucket: 'b-1', key: 'k' });
        await infra.objectStorage.putObject({ bucket: 'b-1', key: 'k', body: 'x' });
        await infra.objectStorage.putObject({ bucket: 'b-1', key: 'other', body: 'y' });
        await infra.objectStorage.deleteObject({ bucket: 'b-1', key: 'k' });
        expect(await infra.objectStorage.getObject({ bucket: 'b-1', key: 'k' })).toBeUndefined();
        expect(await infra.objectStorage.getObject({ bucket: 'b-1', key: 'other' })).toBe('y');
        await infra.objectStorage.deleteObject({ bucket: 'b-1', key: 'k' });
      });

      it('keys with slashes are plain keys: a/b and a/b/c are different objects', async () => {
        const body = JSON.stringify({ backup: 'main', tables: ['users'] });
        await infra.objectStorage.putObject({ bucket: 'backups', key: 'db/main/1.json', body });
        await infra.objectStorage.putObject({ bucket: 'backups', key: 'db/main', body: 'parent' });
        expect(
          await infra.objectStorage.getObject({ bucket: 'backups', key: 'db/main/1.json' }),
        ).toBe(body);
        expect(await infra.objectStorage.getObject({ bucket: 'backups', key: 'db/main' })).toBe(
          'parent',
        );
        expect(
          await infra.objectStorage.getObject({ bucket: 'backups', key: 'db' }),
        ).toBeUndefined();
        await infra.objectStorage.deleteObject({ bucket: 'backups', key: 'db/main' });
        expect(
          await infra.objectStorage.getObject({ bucket: 'backups', key: 'db/main/1.json' }),
        ).toBe(body);
      });

      it("names are opaque: keys '.' and '..', a bucket '..', are objects like any other", async () => {
        // Bucket and key come from operation params (database.backup): they are no paths.
        await infra.objectStorage.putObject({ bucket: 'b', key: 'k', body: 'plain' });
        await infra.objectStorage.putObject({ bucket: 'b', key: '.', body: 'dot' });
        await infra.objectStorage.putObject({ bucket: 'b', key: '..', body: 'dots' });
        await infra.objectStorage.putObject({ bucket: '..', key: 'k', body: 'up' });
        expect(await infra.objectStorage.getObject({ bucket: 'b', key: '.' })).toBe('dot');
        expect(await infra.objectStorage.getObject({ bucket: 'b', key: '..' })).toBe('dots');
        expect(await infra.objectStorage.getObject({ bucket: '..', key: 'k' })).toBe('up');
        expect(await infra.objectStorage.getObject({ bucket: 'b', key: 'k' })).toBe('plain');
        await infra.objectStorage.putObject({ bucket: 'b', key: 'k2', body: 'after' });
        expect(await infra.objectStorage.getObject({ bucket: 'b', key: 'k2' })).toBe('after');
        await infra.objectStorage.deleteObject({ bucket: 'b', key: '.' });
        await infra.objectStorage.deleteObject({ bucket: '..', key: 'k' });
        expect(await infra.objectStorage.getObject({ bucket: 'b', key: '.' })).toBeUndefined();
        expect(await infra.objectStorage.getObject({ bucket: '..', key: 'k' })).toBeUndefined();
        expect(await infra.objectStorage.getObject({ bucket: 'b', key: 'k' })).toBe('plain');
      });
    });

    describe('databases', () => {
      it('createDatabase on an unknown volume is refused with NOT_FOUND', async () => {
        await expectRefusal(
          infra.databases.createDatabase({ databaseId: 'db', volumeId: 'nope' }),
          'createDatabase',
          'NOT_FOUND',
        );
        expect(await infra.databases.acceptsConnections('db')).toBe(false);
      });

      it('createDatabase is idempotent; another volume is a CONFLICT', async () => {
        await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 1 });
        await infra.volumes.createVolume({ volumeId: 'v-2', sizeGb: 1 });
        const created = await infra.databases.createDatabase({ databaseId: 'db', volumeId: 'v-1' });
        expect(created).toEqual({ id: 'db', volumeId: 'v-1' });
        expect(await infra.databases.createDatabase({ databaseId: 'db', volumeId: 'v-1' })).toEqual(
          created,
        );
        await expectRefusal(
          infra.databases.createDatabase({ databaseId: 'db', volumeId: 'v-2' }),
          'createDatabase',
          'CONFLICT',
        );
        // No container serves it yet: it accepts no connections.
        expect(await infra.databases.acceptsConnections('db')).toBe(false);
      });

      it('deleteDatabase is idempotent and frees the id', async () => {
        await infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 1 });
        await infra.volumes.createVolume({ volumeId: 'v-2', sizeGb: 1 });
        await infra.databases.createDatabase({ databaseId: 'db', volumeId: 'v-1' });
        await infra.databases.deleteDatabase('db');
        await infra.databases.deleteDatabase('db');
        await infra.databases.deleteDatabase('nope');
        // Its volume is not touched.
        expect(await infra.volumes.describeVolume('v-1')).toBeDefined();
        expect(await infra.databases.createDatabase({ databaseId: 'db', volumeId: 'v-2' })).toEqual(
          { id: 'db', volumeId: 'v-2' },
        );
      });

      it('acceptsConnections of an unknown database is false', async () => {
        expect(await infra.databases.acceptsConnections('nope')).toBe(false);
      });
    });

    describe('cancellation', () => {
      it('a call whose signal is already aborted rejects with its reason and changes nothing', async () => {
        const reason = new Error('cancelled by the test');
        const signal = AbortSignal.abort(reason);
        await expect(infra.compute.ensureInstance({ instanceId: 'i-1' }, { signal })).rejects.toBe(
          reason,
        );
        expect(await infra.compute.describeInstance('i-1')).toBeUndefined();
        await expect(
          infra.volumes.createVolume({ volumeId: 'v-1', sizeGb: 1 }, { signal }),
        ).rejects.toBe(reason);
        expect(await infra.volumes.describeVolume('v-1')).toBeUndefined();
      });

      it('a start aborted while it runs rejects with its reason and leaves no container', async () => {
        await instanceWithImage('i-1');
        const controller = new AbortController();
        const reason = new Error('cancelled while starting');
        const starting = infra.containers.startContainer(
          { containerId: 'c-1', instanceId: 'i-1', image },
          { signal: controller.signal },
        );
        controller.abort(reason);
        await expect(starting).rejects.toBe(reason);
        expect(await infra.containers.describeContainer('c-1')).toBeUndefined();
      });
    });

    describe('ids', () => {
      it('takes any id: spaces, slashes, dots, as the catalog builds them from app names', async () => {
        for (const id of ['my app host', 'team/web', '..', '.']) {
          await instanceWithImage(id);
          const container = await infra.containers.startContainer({
            containerId: `${id} c`,
            instanceId: id,
            image,
          });
          expect(container).toMatchObject({ id: `${id} c`, instanceId: id, state: 'running' });
          await infra.volumes.createVolume({ volumeId: `${id} v`, sizeGb: 1 });
          await infra.volumes.attachVolume({ volumeId: `${id} v`, instanceId: id });
          expect((await infra.volumes.describeVolume(`${id} v`))?.attachedTo).toBe(id);
          expect((await infra.compute.describeInstance(id))?.images).toEqual([image]);
        }
        // Each is its own: terminating one leaves the others.
        await infra.compute.terminateInstance('team/web');
        expect(await infra.compute.describeInstance('my app host')).toBeDefined();
        expect(await infra.compute.describeInstance('team/web')).toBeUndefined();
      });
    });
  });
};
