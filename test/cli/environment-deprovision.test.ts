import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempWorkdir } from './run-cli.js';

interface Page {
  items: { type: string; status: string }[];
}

describe('opledger run environment.deprovision', () => {
  const work = tempWorkdir('env-deprovision');
  const cli = (...args: string[]) => runCli(args, { cwd: work.dir });
  const run = (type: string, resource: string) =>
    cli('run', type, '--env', 'staging', '--resource', resource, '--speed', 'max');
  afterAll(() => work.remove());

  it('refuses while the environment has an app, names the command that empties it, and records nothing', async () => {
    expect((await run('environment.provision', 'environment:staging')).code).toBe(0);
    expect((await run('app.provision', 'app:web')).code).toBe(0);

    const refused = await run('environment.deprovision', 'environment:staging');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'Error: Environment staging still has a resource not deprovisioned: app web. Deprovision it first',
    );
    expect(refused.stderr).toContain(
      'Hint: opledger run app.deprovision --env staging --resource app:web',
    );
    const listed = JSON.parse(
      (await cli('operations', '--env', 'staging', '--json')).stdout,
    ) as Page;
    expect(listed.items.map((op) => op.type)).toEqual(['app.provision', 'environment.provision']);

    expect((await run('app.deprovision', 'app:web')).code).toBe(0);
    const done = await run('environment.deprovision', 'environment:staging');
    expect(done.code, done.stderr).toBe(0);
  });
});
