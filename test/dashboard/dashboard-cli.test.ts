import { afterAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli, tempWorkdir, watchOutput } from '../cli/run-cli.js';
import { call } from './http-client.js';

describe('opledger dashboard', () => {
  const work = tempWorkdir('dashboard-cli');
  afterAll(() => work.remove());

  it('prints its URL, serves the API until SIGTERM, then closes and exits 0', async () => {
    const server = watchOutput(spawnCli(['dashboard', '--port', '0'], { cwd: work.dir }));
    const [url = ''] = await server.waitFor('stdout', /^http:\/\/127\.0\.0\.1:\d+\/$/);
    await server.waitFor('stderr', /Serving the dashboard of sqlite:\.opledger\/opledger\.db/);
    // A new store: no environment yet.
    const envs = await call(url, '/api/environments');
    expect(envs.status).toBe(200);
    expect(envs.json()).toEqual([]);
    expect((await call(url, '/api/operations/nope')).status).toBe(404);
    server.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.text.stderr).toMatch(/SIGTERM: closing the dashboard/);
    expect(server.text.stderr).not.toMatch(/Error/);
  }, 30_000);

  it('prints { url, store } as one line with --json (a script reads the first line), and stops on SIGINT too', async () => {
    const server = watchOutput(spawnCli(['dashboard', '--port', '0', '--json'], { cwd: work.dir }));
    await server.waitFor('stdout', /"url"/);
    const [first = ''] = server.text.stdout.split('\n');
    const { url, store } = JSON.parse(first) as { url: string; store: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(store).toBe('sqlite:.opledger/opledger.db');
    expect((await call(url, '/api')).status).toBe(200);
    server.kill('SIGINT');
    expect(await server.exited).toBe(0);
  }, 30_000);

  it('refuses a bad port, and says so when the port is taken', async () => {
    const bad = await runCli(['dashboard', '--port', '70000'], { cwd: work.dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--port '70000' is not a port number/);
    const first = watchOutput(spawnCli(['dashboard', '--port', '0'], { cwd: work.dir }));
    const [url = ''] = await first.waitFor('stdout', /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const taken = await runCli(['dashboard', '--port', new URL(url).port], { cwd: work.dir });
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/the port is taken/);
    expect(taken.stderr).toMatch(/--port 0 for any free port/);
    first.kill('SIGTERM');
    expect(await first.exited).toBe(0);
  }, 30_000);
});
