import { writeFileSync } from 'node:fs';
import { filter, firstValueFrom } from 'rxjs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type Stores } from '../../src/adapters/create-store.js';
import { createClient, defineOperation, step } from '../../src/index.js';
import type { WorkerView } from '../../src/engine/worker/list-workers.js';
import { allLines, messages } from '../support/fixtures.js';
import { runCli, spawnCli, tempWorkdir, watchOutput } from './run-cli.js';

/**
 * `opledger worker` and `opledger workers` as an operator runs them: a worker process on a
 * SQLite file, a client in this process that starts operations on the same file.
 */
const dist = pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'index.js')).href;

// The worker's module and this test's client share the definitions' shape (a client needs the
// definition to validate and plan a request; the worker needs it to run it).
const MODULE = `import { defineOperation, step } from '${dist}';
export const deploy = defineOperation({
  type: 'deploy',
  steps: [step({ name: 'pull', kind: 'no_side_effects', run: ({ params }) => ({ image: params.image }) })],
});
export const slow = defineOperation({
  type: 'slow',
  steps: [
    step({
      name: 'wait',
      run: ({ signal }) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => resolve({ waited: true }), 120000);
          signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); });
        }),
      undo: () => undefined,
    }),
  ],
});
export const note = 'not a definition';
`;

const deploy = defineOperation<{ image: string }>({
  type: 'deploy',
  steps: [step({ name: 'pull', kind: 'no_side_effects', run: () => ({}) })],
});
const slow = defineOperation({
  type: 'slow',
  steps: [step({ name: 'wait', run: () => ({}), undo: () => undefined })],
});

const work = tempWorkdir('worker');
const url = `sqlite:${join(work.dir, 'store.db')}`;
let stores: Stores;

beforeAll(async () => {
  writeFileSync(join(work.dir, 'ops.mjs'), MODULE);
  stores = await createStore(url);
});
afterAll(async () => {
  await stores.close();
  work.remove();
});

const workersJson = async (): Promise<WorkerView[]> => {
  const run = await runCli(['workers', '--store', url, '--json'], { cwd: work.dir });
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as WorkerView[];
};

const request = (type: string, handle: string, params: Record<string, unknown> = {}) => ({
  type,
  environment: 'prod',
  resource: { type: 'app', handle },
  user: 'ada@example.com',
  params,
});

describe('opledger worker', () => {
  it('runs what a client starts, and on SIGTERM cancels what outlives the grace, releases its lease and exits 0', async () => {
    const child = spawnCli(
      [
        'worker',
        '--store',
        url,
        '--operations',
        './ops.mjs',
        '--concurrency',
        '2',
        '--identity',
        'w-cli',
        '--lease-ttl',
        '3000',
        '--grace',
        '300',
      ],
      { cwd: work.dir },
    );
    const out = watchOutput(child);
    try {
      await out.waitFor('stdout', /INFO {2}worker w-cli started with lease w-cli\./);
      expect(out.text.stderr).toMatch(/^Worker w-cli runs deploy, slow from sqlite:/m);
      // --renew-every defaults to a third of a short --lease-ttl.
      expect(out.text.stderr).toContain('lease 3000 ms renewed every 1000 ms');

      const client = createClient({ store: stores.eventStore, operations: [deploy, slow] });
      const done = await client.start(request('deploy', 'web', { image: 'web:v2' }));
      expect((await done.result).status).toBe('succeeded');
      await out.waitFor('stdout', new RegExp(`INFO  claimed operation ${done.id}$`));
      await out.waitFor('stdout', new RegExp(`INFO  operation ${done.id} succeeded$`));
      expect(await client.getOperation(done.id)).toMatchObject({ status: 'succeeded' });

      const held = await client.start(request('slow', 'api'));
      await out.waitFor('stdout', new RegExp(`claimed operation ${held.id}$`));
      const live = (await workersJson()).find((w) => w.worker === 'w-cli');
      expect(live).toMatchObject({ status: 'live', pid: child.pid, ttlMs: 3000, concurrency: 2 });
      expect(live?.operationTypes.sort()).toEqual(['deploy', 'slow']);

      out.kill('SIGTERM');
      // A 2-minute step: only the 300 ms grace ends it in time; it is cancelled and rolled back.
      expect(await out.exited).toBe(0);
      expect(out.text.stderr).toMatch(/SIGTERM: stopping: no new claims; .* 300 ms to finish/);
      expect(out.text.stdout).toMatch(/INFO {2}worker w-cli stopped; lease released\n$/);
      const ended = await client.result(held.id);
      expect(ended).toMatchObject({ status: 'failed', cancelled: true, rollback: 'succeeded' });

      const [stopped] = (await workersJson()).filter((w) => w.worker === 'w-cli');
      expect(stopped).toMatchObject({ status: 'stopped', holding: [] });
      const table = await runCli(['workers', '--store', url], { cwd: work.dir });
      expect(table.code).toBe(0);
      const [header, row] = table.stdout.trim().split('\n');
      expect(header).toMatch(/^WORKER\s+STATUS\s+HOST\s+PID\s+STARTED\s+LAST RENEWAL\s+HOLDING$/);
      expect(row).toMatch(
        new RegExp(`^w-cli\\s+stopped\\s+\\S+\\s+${child.pid}\\s+\\S+\\s+\\S+\\s+-$`),
      );
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);

  it('a worker SIGKILLed mid-step has its operation taken over and rolled back by another, and shows as lost', async () => {
    const worker = (identity: string) =>
      spawnCli(
        [
          'worker',
          '--store',
          url,
          '--operations',
          'ops.mjs',
          '--identity',
          identity,
          '--lease-ttl',
          '1000',
          '--renew-every',
          '300',
        ],
        { cwd: work.dir },
      );
    const a = worker('w-killed');
    const aOut = watchOutput(a);
    let b: ReturnType<typeof worker> | undefined;
    try {
      const client = createClient({ store: stores.eventStore, operations: [deploy, slow] });
      await aOut.waitFor('stdout', /started with lease/);
      const held = await client.start(request('slow', 'takeover'));
      // Killed in the middle of its step (killed between claim and start, it would be started).
      await firstValueFrom(
        client.logs(held.id).pipe(filter((line) => line.message.startsWith("Step 'wait' started"))),
      );
      aOut.kill('SIGKILL');
      await aOut.exited;
      // Its successor starts once it is dead: nothing but a takeover gives it the operation.
      b = worker('w-successor');
      const bOut = watchOutput(b);
      await bOut.waitFor(
        'stdout',
        new RegExp(`INFO {2}took over operation ${held.id} from w-killed$`),
      );
      expect(await client.result(held.id)).toMatchObject({
        status: 'failed',
        rollback: 'succeeded',
      });
      const lines = await allLines({ logs: client.logs(held.id) });
      expect(messages(lines).join('\n')).toMatch(
        /Taken over by worker w-successor after w-killed's lease expired at /,
      );
      const views = await workersJson();
      expect(views.find((w) => w.worker === 'w-killed')).toMatchObject({ status: 'lost' });
      expect(views.find((w) => w.worker === 'w-successor')).toMatchObject({ status: 'live' });
      bOut.kill('SIGTERM');
      expect(await bOut.exited).toBe(0);
    } finally {
      for (const child of [a, b]) if (child?.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);

  it('prints its log lines as JSON with --json', async () => {
    const child = spawnCli(
      ['worker', '--store', url, '--operations', 'ops.mjs', '--identity', 'w-json', '--json'],
      { cwd: work.dir },
    );
    const out = watchOutput(child);
    try {
      const [first] = await out.waitFor('stdout', /^\{.*started with lease.*\}$/);
      expect(JSON.parse(first)).toMatchObject({
        level: 'info',
        message: expect.stringMatching(/^worker w-json started with lease w-json\./) as string,
      });
      out.kill('SIGINT');
      expect(await out.exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});

describe('opledger worker refuses bad input, exit 2, before it touches the store', () => {
  const refuses = async (args: string[], message: RegExp, hint?: RegExp) => {
    const run = await runCli(['worker', '--store', url, ...args], { cwd: work.dir });
    expect(run.stderr).toMatch(message);
    if (hint) expect(run.stderr).toMatch(hint);
    expect(run.code).toBe(2);
  };

  it('a module that is not there', () =>
    refuses(
      ['--operations', './missing.mjs'],
      /^Error: --operations: there is no file \.\/missing\.mjs \(looked for \/.*missing\.mjs\)$/m,
      /^Hint: pass the path of an ES module/m,
    ));

  it('a module that exports no definitions, naming what it exports', () => {
    writeFileSync(join(work.dir, 'none.mjs'), 'export const a = 1;\nexport default { b: 2 };\n');
    return refuses(
      ['--operations', 'none.mjs'],
      /^Error: none\.mjs exports no operation definitions \(its exports: a, default\)$/m,
      /default export is an array of operation definitions/,
    );
  });

  it('a default array with something else in it', () => {
    writeFileSync(
      join(work.dir, 'mixed.mjs'),
      `import { deploy } from './ops.mjs';\nexport default [deploy, 'x'];\n`,
    );
    return refuses(
      ['--operations', 'mixed.mjs'],
      /^Error: the default export of mixed\.mjs is an array whose item 1 is not an operation definition \(string\)$/m,
    );
  });

  it('a module that does not load', () => {
    writeFileSync(join(work.dir, 'broken.mjs'), 'export const = ;\n');
    return refuses(
      ['--operations', 'broken.mjs'],
      /^Error: cannot load the operations module broken\.mjs: /m,
    );
  });

  it('TypeScript without a loader, saying how to load it', () => {
    writeFileSync(join(work.dir, 'ops.ts'), 'export const a: number = 1;\n');
    return refuses(
      ['--operations', 'ops.ts'],
      /^Error: cannot load the operations module ops\.ts: /m,
      /NODE_OPTIONS='--import tsx'/,
    );
  });

  it.each([
    [['--concurrency', '0'], /--concurrency '0' is not a whole number of 1 or more/],
    [['--concurrency', 'lots'], /--concurrency 'lots' is not a whole number of 1 or more/],
    [['--lease-ttl', '1.5'], /--lease-ttl '1\.5' is not a whole number of 1 or more/],
    [['--grace', '-1'], /--grace '-1' is not a whole number of 0 or more/],
    [
      ['--lease-ttl', '5000', '--renew-every', '5000'],
      /--renew-every \(5000 ms\) must be shorter than --lease-ttl \(5000 ms\)/,
    ],
    [['--identity', ' '], /--identity must not be empty/],
  ])('%s', (flags, message) => refuses(['--operations', 'ops.mjs', ...flags], message));
});

describe('opledger workers', () => {
  it('says so when no worker has run on the store, and prints [] with --json', async () => {
    const empty = `sqlite:${join(work.dir, 'empty.db')}`;
    const text = await runCli(['workers', '--store', empty], { cwd: work.dir });
    expect(text.stdout).toBe(`No worker has run on ${empty}.\n`);
    const json = await runCli(['workers', '--store', empty, '--json'], { cwd: work.dir });
    expect(JSON.parse(json.stdout)).toEqual([]);
  });
});
