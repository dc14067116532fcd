import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSimulatedCloud } from '../../src/adapters/infrastructure/index.js';
import { createLocalInfrastructure, publishAppImage } from '../../src/adapters/local/index.js';
import { describeInfrastructurePortContract } from './infrastructure-port-contract.js';

// On its virtual clock every call resolves at once (each call sleeps its duration on the clock,
// which moves it forward), and any image reference can be pulled.
let seed = 0;
describeInfrastructurePortContract('simulated cloud', async () => {
  const cloud = createSimulatedCloud({ seed: ++seed });
  return {
    infra: cloud,
    image: 'web:v1',
    crash: async (instanceId) => cloud.faults.crashInstance(instanceId),
    close: async () => undefined,
  };
});

// Real folders, child processes and HTTP proxies, in a temporary folder per test.
describeInfrastructurePortContract('local infrastructure', async () => {
  const root = await mkdtemp(join(tmpdir(), 'opledger-port-contract-'));
  try {
    const infra = await createLocalInfrastructure({ root });
    const image = 'web:v1';
    await publishAppImage(infra.registries['docker-hub'], image);
    return {
      infra,
      image,
      crash: (instanceId) => infra.faults.crashInstance(instanceId),
      close: async () => {
        try {
          await infra.close();
        } finally {
          await rm(root, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
});
