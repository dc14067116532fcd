import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openLocalWorld } from './local-world.js';
import { accepts, alive, gone } from './processes.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');

describe('the local infrastructure leaves nothing behind', () => {
  it('close() stops every container process and proxy and frees their ports', async () => {
    const world = await openLocalWorld({ images: { 'web:v1': {} }, postgres: true });
    let closed = false;
    try {
      const app = { type: 'app', handle: 'web' };
      expect((await world.run('app.provision', app, { app: 'web' })).status).toBe('succeeded');
      const deploy = await world.run('app.deploy', app, {
        app: 'web',
        image: 'web:v1',
        containerCount: 2,
      });
      expect(deploy.status).toBe('succeeded');
      const database = await world.run(
        'database.provision',
        { type: 'database', handle: 'main' },
        {
          databaseId: 'main',
          volumeId: 'main-data',
          containerId: 'main-db',
          instanceId: 'main-host-1',
          image: 'postgres:15',
          sizeGb: 1,
        },
      );
      expect(database.status).toBe('succeeded');

      const targets = (await world.infra.loadBalancer.describeEndpoint('web'))?.targets ?? [];
      const processes = [...targets, 'main-db'].map((id) => world.infra.processOf(id));
      expect(processes.every((p) => p !== undefined && alive(p.pid))).toBe(true);
      const endpointPort = Number(new URL(world.infra.endpointUrl('web') as string).port);
      const ports = [endpointPort, ...processes.map((p) => p?.port as number)];
      for (const port of ports) expect(await accepts(port)).toBe(true);

      await world.close();
      closed = true;
      for (const p of processes) expect(await gone(p?.pid as number)).toBe(true);
      for (const port of ports) expect(await accepts(port)).toBe(false);
      expect(existsSync(world.root)).toBe(false);
    } finally {
      if (!closed) await world.close();
    }
  });

  it('a process that dies of an uncaught error takes its containers with it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'opledger-local-crash-'));
    try {
      // The published entry point, as a user's program imports it (npm test builds it first).
      const script = `
        const local = await import('opledger/adapters/local');
        const infra = await local.createLocalInfrastructure({ root: ${JSON.stringify(root)} });
        await local.publishAppImage(infra.registries['docker-hub'], 'web:v1');
        await infra.compute.ensureInstance({ instanceId: 'host' });
        await infra.containers.pullImage({ instanceId: 'host', image: 'web:v1', registry: 'docker-hub' });
        await infra.containers.startContainer({ containerId: 'c1', instanceId: 'host', image: 'web:v1' });
        console.log(JSON.stringify(infra.processOf('c1')));
        setTimeout(() => { throw new Error('the program crashes'); }, 50);`;
      const child = await run(process.execPath, ['--input-type=module', '-e', script], {
        cwd: repo,
      }).then(
        () => undefined,
        (error: { stdout: string; stderr: string; code: number }) => error,
      );
      expect(child?.code).toBe(1);
      expect(child?.stderr).toContain('the program crashes');
      const started = JSON.parse(child?.stdout ?? '{}') as { pid: number; port: number };
      expect(started.pid).toBeGreaterThan(0);
      expect(await gone(started.pid)).toBe(true);
      expect(await accepts(started.port)).toBe(false);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
