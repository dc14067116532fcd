// The catalog's deploy on real processes of this machine: two releases of a small Node.js web
// app, an HTTP proxy in front of them, and a load generator that counts every request while the
// deploy switches releases. Run it with `npx tsx examples/local-zero-downtime.ts`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, createInMemoryEventStore } from 'opledger';
import { createLocalInfrastructure, publishAppImage, startLoad } from 'opledger/adapters/local';
import { appDeploy, appProvision } from 'opledger/catalog';

// #region setup
const root = await mkdtemp(join(tmpdir(), 'opledger-example-'));
const infra = await createLocalInfrastructure({ root });
// An image is a folder in a registry folder: here, the sample app, twice.
await publishAppImage(infra.registries['docker-hub'], 'web:v1');
await publishAppImage(infra.registries['docker-hub'], 'web:v2');

// Requests in flight get up to 2 s to finish before an old container is stopped.
const timings = { drainMs: 2_000, stopTimeoutMs: 5_000, healthCheckIntervalMs: 100 };
const engine = createEngine({
  store: createInMemoryEventStore(),
  operations: [appProvision(infra, timings), appDeploy(infra, timings)],
});
// #endregion setup

// #region deploy-under-load
const run = async (type: string, params: Record<string, unknown>) => {
  const handle = await engine.start({
    type,
    environment: 'local',
    resource: { type: 'app', handle: 'web' },
    user: 'ada@example.com',
    params,
  });
  return handle.result;
};

try {
  await run('app.provision', { app: 'web' });
  await run('app.deploy', { app: 'web', image: 'web:v1', containerCount: 2 });

  const load = startLoad({ url: infra.endpointUrl('web') as string, concurrency: 4 });
  const deploy = await run('app.deploy', { app: 'web', image: 'web:v2' });
  const report = await load.stop();

  console.log(deploy.summary);
  console.log(`${report.requests} requests, ${report.served} served, ${report.errors} errors`);
} finally {
  await engine.shutdown();
  await infra.close(); // stops every process and proxy it started
  await rm(root, { recursive: true, force: true });
}
// #endregion deploy-under-load
