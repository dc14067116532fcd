import { describe, expect, it } from 'vitest';
import { NEW_IMAGE, appWorld } from './app-fixtures.js';

/** The steps a deploy's log shows as started, in order. */
const startedSteps = (lines: { message: string }[]) =>
  lines.flatMap((l) => /^Step '(.+)' started/.exec(l.message)?.[1] ?? []);

const ENDPOINT_ONLY = ['register new targets', 'deregister old targets', 'stop old containers'];
const NO_ENDPOINT = 'stop old containers (no endpoint)';

describe('appDeploy plan: a log shows only the steps that apply', () => {
  it('an app with an endpoint: no step of a service without one', async () => {
    const w = await appWorld(21);
    const op = await w.start('app.deploy', { image: NEW_IMAGE });
    expect((await op.result).status).toBe('succeeded');
    const lines = await op.logs;
    expect(lines.some((l) => l.message.includes('no endpoint'))).toBe(false);
    expect(startedSteps(lines)).toEqual([
      'pull image',
      'start new containers',
      'health check',
      ...ENDPOINT_ONLY,
    ]);
  });

  it('a service without an endpoint: no endpoint-only step', async () => {
    const w = await appWorld(22, 1);
    const op = await w.start('app.deploy', {
      image: NEW_IMAGE,
      endpoint: false,
      previousContainers: w.oldIds,
    });
    expect((await op.result).status).toBe('succeeded');
    const steps = startedSteps(await op.logs);
    expect(steps).toEqual(['pull image', NO_ENDPOINT, 'start new containers', 'health check']);
    for (const name of ENDPOINT_ONLY) expect(steps).not.toContain(name);
  });

  it("a worker's first release has no old containers to stop first", async () => {
    const w = await appWorld(23, 1);
    const op = await w.start('app.deploy', { image: NEW_IMAGE, endpoint: false });
    expect((await op.result).status).toBe('succeeded');
    expect(startedSteps(await op.logs)).toEqual([
      'pull image',
      'start new containers',
      'health check',
    ]);
  });
});
