import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createLocalInfrastructure,
  publishAppImage,
  type LocalInfrastructure,
} from '../../src/adapters/local/index.js';
import { alive, gone } from './processes.js';

describe('container processes of the local infrastructure', () => {
  let root: string;
  let infra: LocalInfrastructure;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'opledger-processes-'));
    infra = await createLocalInfrastructure({ root });
    await publishAppImage(infra.registries['docker-hub'], 'web:v1');
    await publishAppImage(infra.registries['docker-hub'], 'web:stubborn', { ignoresSigterm: true });
    await infra.compute.ensureInstance({ instanceId: 'host' });
    for (const image of ['web:v1', 'web:stubborn']) {
      await infra.containers.pullImage({ instanceId: 'host', image, registry: 'docker-hub' });
    }
  });

  afterEach(async () => {
    await infra.close();
    await rm(root, { recursive: true, force: true });
  });

  it('stops with SIGTERM a container that exits on it, and with SIGKILL after the timeout one that does not', async () => {
    await infra.containers.startContainer({
      containerId: 'a',
      instanceId: 'host',
      image: 'web:v1',
    });
    const polite = await infra.containers.stopContainer({ containerId: 'a', stopTimeoutMs: 3_000 });
    expect(polite.stoppedBy).toBe('SIGTERM');

    await infra.containers.startContainer({
      containerId: 'b',
      instanceId: 'host',
      image: 'web:stubborn',
    });
    const pid = infra.processOf('b')?.pid as number;
    // Give the app time to install its SIGTERM handler, as a real one would have.
    await new Promise((r) => setTimeout(r, 300));
    const stubborn = await infra.containers.stopContainer({ containerId: 'b', stopTimeoutMs: 400 });
    expect(stubborn.stoppedBy).toBe('SIGKILL');
    expect(stubborn.elapsedMs).toBeGreaterThanOrEqual(400);
    expect(await gone(pid)).toBe(true);
    expect((await infra.containers.describeContainer('b'))?.state).toBe('exited');
  });

  it('an aborted one-off command is stopped with everything it started', async () => {
    const controller = new AbortController();
    const started = infra.containers.startContainer(
      {
        containerId: 'migrate',
        instanceId: 'host',
        image: 'web:v1',
        // The shell starts a child of its own and records its pid in the image's folder.
        command: ['sh', '-c', 'sleep 37 & echo $! > child.pid; wait'],
      },
      { signal: controller.signal },
    );
    const pidFile = join(root, 'instances', 'host', 'images', 'web%3Av1', 'child.pid');
    let child = 0;
    for (let i = 0; i < 100 && !child; i++) {
      await new Promise((r) => setTimeout(r, 20));
      child = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    }
    expect(alive(child)).toBe(true);
    controller.abort(new Error('cancelled'));
    await expect(started).rejects.toThrow('cancelled');
    expect(await gone(child)).toBe(true);
    expect(await infra.containers.describeContainer('migrate')).toBeUndefined();
  });

  it('runs each container in a process group of its own: a signal to the caller’s group does not reach it', async () => {
    await infra.containers.startContainer({
      containerId: 'c',
      instanceId: 'host',
      image: 'web:v1',
    });
    const { pid } = infra.processOf('c') as { pid: number };
    // A terminal's Ctrl-C signals the foreground process group; the container leads another.
    const groupOf = async (p: number) =>
      Number((await readFile(`/proc/${p}/stat`, 'utf8')).split(') ')[1]?.split(' ')[2]);
    expect(await groupOf(pid)).toBe(pid);
    expect(await groupOf(process.pid)).not.toBe(pid);
  });

  it('refuses every call after close() with a clear error', async () => {
    await infra.close();
    await expect(
      infra.containers.startContainer({ containerId: 'd', instanceId: 'host', image: 'web:v1' }),
    ).rejects.toMatchObject({ code: 'INFRASTRUCTURE_CLOSED' });
    await expect(infra.compute.describeInstance('host')).rejects.toMatchObject({
      code: 'INFRASTRUCTURE_CLOSED',
    });
  });
});
