import { rm } from 'node:fs/promises';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishAppImage } from '../../src/adapters/local/index.js';
import type { OperationResult } from '../../src/engine/operation-result.js';
import { explain, openLocalWorld, type LocalWorld } from './local-world.js';

/**
 * Registry failover against the local infrastructure: Docker Hub's registry folder is gone (the
 * adapter reports that as an OUTAGE of registry:docker-hub), and the app's image is only in
 * Quay's. A deploy pulls from Quay after Docker Hub's attempts fail; an image in no registry
 * fails the deploy at its pull, before anything starts.
 */

const APP = { type: 'app', handle: 'web' };
const IMAGE = 'web:v1';

let world: LocalWorld;
let first: { result: OperationResult; log: string } | undefined;

/** Runs an operation to its end; its result and its Operation Log, one line per message. */
const runWithLog = async (type: string, params: Record<string, unknown>) => {
  const handle = await world.start(type, APP, params);
  const lines = lastValueFrom(handle.logs.pipe(toArray()));
  const result = await handle.result;
  const log = (await lines).map((l) => l.message).join('\n');
  return { result, log };
};

/** The endpoint's targets and the state of each, to compare before and after. */
const serving = async () => {
  const endpoint = await world.infra.loadBalancer.describeEndpoint('web');
  const targets = endpoint?.targets ?? [];
  const states = await Promise.all(
    targets.map(async (id) => (await world.infra.containers.describeContainer(id))?.state),
  );
  return { targets, states };
};

describe('registry failover on the local infrastructure', () => {
  beforeAll(async () => {
    world = await openLocalWorld();
    await publishAppImage(world.infra.registries.quay, IMAGE);
    await rm(world.infra.registries['docker-hub'], { recursive: true, force: true });
    const provisioned = await world.run('app.provision', APP, { app: 'web' });
    expect(provisioned.status, explain(provisioned)).toBe('succeeded');
    first = await runWithLog('app.deploy', { app: 'web', image: IMAGE, containerCount: 2 });
  });

  afterAll(async () => {
    await world?.close();
  });

  it('a deploy whose image is only on Quay fails over from Docker Hub and succeeds', async () => {
    const { result, log } = first ?? { result: undefined, log: '' };
    expect(result?.status, result && explain(result)).toBe('succeeded');
    // Docker Hub's folder is missing: an outage, retried, then the pull fails over to Quay.
    expect(log).toMatch(/pull image.*with provider docker-hub.*registry:docker-hub is unavailable/);
    expect(log).toMatch(/failing over to quay/);
    expect(log).toMatch(/Pulled web:v1 from quay/);
    expect(log).not.toMatch(/Pulled web:v1 from docker-hub/);
    expect((await world.infra.compute.describeInstance('web-host'))?.images).toEqual([IMAGE]);
    // The release serves for real, through the endpoint's proxy.
    const { targets, states } = await serving();
    expect(targets).toHaveLength(2);
    expect(states).toEqual(['running', 'running']);
    const url = world.infra.endpointUrl('web');
    expect(url).toBeDefined();
    const response = await fetch(`${url}/`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { release: string }).release).toBe(IMAGE);
  });

  it('an image in no registry fails the deploy at its pull, naming the image; nothing else changes', async () => {
    const before = await serving();
    expect(before.targets.length, 'the first deploy must have left a release serving').toBe(2);
    const { result, log } = await runWithLog('app.deploy', { app: 'web', image: 'web:missing' });

    expect(result.status).toBe('failed');
    expect(result.cancelled).toBe(false);
    expect(result.failedStep).toBe('pull image');
    expect(result.error?.code).toBe('NOT_FOUND');
    expect(result.error?.message).toMatch(/web:missing/);
    // Pulling changes nothing that serves: there was nothing to undo.
    expect(result.rollback).toBe('succeeded');
    expect(result.summary).toMatch(/pull image/);
    expect(result.notUndone).toEqual([]);
    expect(log).toMatch(/failing over to quay/);
    expect(log).toMatch(/image web:missing is not in registry quay/);
    // A refusal is not retried: the same request would be refused again.
    expect(log).toMatch(/attempt 1 with provider quay/);
    expect(log).not.toMatch(/attempt 2 with provider quay/);
    // Nothing was started: the endpoint serves the same containers, all still running.
    expect(await serving()).toEqual(before);
    expect(await world.infra.containers.describeContainer(`web-${result.id}-1`)).toBeUndefined();
    expect((await world.infra.compute.describeInstance('web-host'))?.images).toEqual([IMAGE]);
    const response = await fetch(`${world.infra.endpointUrl('web')}/`);
    expect(((await response.json()) as { release: string }).release).toBe(IMAGE);
  });
});
