import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSimulatedCloud } from '../../src/adapters/infrastructure/index.js';
import { createVirtualClock } from '../../src/testing/index.js';

// Ids a cloud keyed by plain objects could mistake for things it has: Object.prototype's own
// names (an app named `constructor` has an endpoint `constructor`), mixed with any others.
const prototypeNames = Object.getOwnPropertyNames(Object.prototype);
const id = fc.oneof(fc.constantFrom(...prototypeNames), fc.string({ minLength: 1, maxLength: 12 }));

/** Longer than any id drawn. */
const OTHER = 'the-other-bucket';

describe('the simulated cloud, for any ids', () => {
  it('has nothing of an id before it is made, then keeps it under that id', async () => {
    await fc.assert(
      fc.asyncProperty(id, async (name) => {
        const cloud = createSimulatedCloud({ seed: 1, clock: createVirtualClock() });
        expect(await cloud.compute.describeInstance(name)).toBeUndefined();
        expect(await cloud.containers.describeContainer(name)).toBeUndefined();
        expect(await cloud.volumes.describeVolume(name)).toBeUndefined();
        expect(await cloud.loadBalancer.describeEndpoint(name)).toBeUndefined();
        expect(await cloud.objectStorage.getObject({ bucket: OTHER, key: name })).toBeUndefined();
        expect(await cloud.objectStorage.getObject({ bucket: name, key: 'k' })).toBeUndefined();
        expect(await cloud.databases.acceptsConnections(name)).toBe(false);

        expect(await cloud.compute.ensureInstance({ instanceId: name })).toMatchObject({
          id: name,
          state: 'available',
        });
        await cloud.containers.pullImage({ instanceId: name, image: 'app:v1', registry: 'quay' });
        await cloud.containers.startContainer({
          containerId: name,
          instanceId: name,
          image: 'app:v1',
        });
        expect(await cloud.loadBalancer.createEndpoint({ endpointId: name })).toEqual({
          id: name,
          targets: [],
          draining: [],
        });
        await cloud.loadBalancer.registerTarget({ endpointId: name, containerId: name });
        expect(await cloud.volumes.createVolume({ volumeId: name, sizeGb: 1 })).toMatchObject({
          id: name,
        });
        await cloud.objectStorage.putObject({ bucket: name, key: name, body: 'x' });
        await cloud.objectStorage.putObject({ bucket: OTHER, key: name, body: 'y' });
        expect(await cloud.objectStorage.getObject({ bucket: name, key: name })).toBe('x');
        expect(await cloud.objectStorage.getObject({ bucket: OTHER, key: name })).toBe('y');

        const snapshot = cloud.snapshot();
        expect(Object.keys(snapshot.instances)).toEqual([name]);
        expect(Object.keys(snapshot.containers)).toEqual([name]);
        expect(Object.keys(snapshot.volumes)).toEqual([name]);
        expect(Object.keys(snapshot.endpoints)).toEqual([name]);
        expect(Object.keys(snapshot.objects).sort()).toEqual([name, OTHER].sort());
        expect(JSON.stringify(snapshot.objects[name])).toBe(JSON.stringify({ [name]: 'x' }));
        expect(JSON.stringify(snapshot.objects[OTHER])).toBe(JSON.stringify({ [name]: 'y' }));

        await cloud.objectStorage.deleteObject({ bucket: OTHER, key: name });
        await cloud.objectStorage.deleteObject({ bucket: name, key: name });
        expect(cloud.snapshot().objects).toEqual({});
        await cloud.loadBalancer.deleteEndpoint(name);
        expect(await cloud.loadBalancer.describeEndpoint(name)).toBeUndefined();
      }),
      { numRuns: 150 },
    );
  });

  it('gives an image its own behaviour, and other images none of it', async () => {
    await fc.assert(
      fc.asyncProperty(id, async (name) => {
        const cloud = createSimulatedCloud({ seed: 1, clock: createVirtualClock() });
        const other = name === 'app:v1' ? 'app:v2' : 'app:v1';
        await cloud.compute.ensureInstance({ instanceId: 'i-1' });
        for (const [containerId, image] of [
          ['c-1', name],
          ['c-2', other],
        ] as const) {
          await cloud.containers.pullImage({ instanceId: 'i-1', image, registry: 'quay' });
          await cloud.containers.startContainer({ containerId, instanceId: 'i-1', image });
        }
        cloud.setImageBehaviour(name, { responds: false });
        expect(await cloud.containers.checkHealth({ containerId: 'c-1' })).toMatchObject({
          healthy: false,
        });
        expect(await cloud.containers.checkHealth({ containerId: 'c-2' })).toMatchObject({
          healthy: true,
        });
      }),
      { numRuns: 100 },
    );
  });
});
