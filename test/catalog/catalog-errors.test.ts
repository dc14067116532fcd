import { describe, expect, it } from 'vitest';
import { createSimulatedCloud } from '../../src/adapters/infrastructure/index.js';
import { resolveOptions } from '../../src/catalog/app/app-options.js';
import {
  AppStateError,
  DatabaseNotFoundError,
  PlacementError,
  PreconditionFailedError,
  RestoreImpossibleError,
  SecretParamsUnavailableError,
} from '../../src/catalog/index.js';
import { sshSession } from '../../src/catalog/ssh/index.js';
import { OpledgerError } from '../../src/index.js';
import { systemClock } from '../../src/engine/index.js';
import { createVirtualClock } from '../../src/testing/index.js';
import { databaseWorld } from './database-world.js';

describe('catalog errors', () => {
  it.each([
    [new AppStateError('m'), 'AppStateError', 'APP_STATE'],
    [new RestoreImpossibleError('m'), 'RestoreImpossibleError', 'RESTORE_IMPOSSIBLE'],
    [
      new SecretParamsUnavailableError('m'),
      'SecretParamsUnavailableError',
      'SECRET_PARAMS_UNAVAILABLE',
    ],
    [new PlacementError('m'), 'PlacementError', 'INVALID_PLACEMENT'],
    [new DatabaseNotFoundError('m'), 'DatabaseNotFoundError', 'NOT_FOUND'],
    [new PreconditionFailedError('m'), 'PreconditionFailedError', 'PRECONDITION_FAILED'],
  ])('%o is an OpledgerError named %s with code %s', (error, name, code) => {
    expect(error).toBeInstanceOf(OpledgerError);
    expect(error).toMatchObject({ name, code, message: 'm' });
  });

  it('a step whose cloud is not as it needs fails with a coded error, recorded', async () => {
    const w = await databaseWorld((cloud) => [sshSession(cloud)]);
    const started = await w.engine.start({
      type: 'ssh.session',
      environment: 'production',
      resource: { type: 'database', handle: 'db' },
      user: 'ada@example.com',
      params: { containerId: 'missing' },
    });
    const result = await started.result;
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({
      name: 'PreconditionFailedError',
      code: 'PRECONDITION_FAILED',
      message: 'container missing is not running',
    });
  });
});

describe('the infrastructure port carries its clock', () => {
  it("the App operations wait on the simulated cloud's clock unless given one", () => {
    const clock = createVirtualClock();
    const cloud = createSimulatedCloud({ seed: 1, clock });
    expect(resolveOptions(cloud).clock).toBe(clock);
    const given = createVirtualClock();
    expect(resolveOptions(cloud, { clock: given }).clock).toBe(given);
  });

  it('an infrastructure that keeps no time of its own gets the system clock', () => {
    const { clock: _clock, ...withoutClock } = createSimulatedCloud({ seed: 1 });
    expect(resolveOptions(withoutClock).clock).toBe(systemClock);
  });
});
