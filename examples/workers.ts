// A worker process and a client on one SQLite file, as `opledger worker` runs them in production
// (docs/workers.md). Run it with `npx tsx examples/workers.ts` (after `npm run build`).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, createStore, listWorkers } from 'opledger';
import { deploy } from './worker-operations.js';

const folder = mkdtempSync(join(tmpdir(), 'opledger-workers-'));
const url = `sqlite:${join(folder, 'opledger.db')}`;
// The installed `opledger` binary; `--import tsx` lets this Node.js load a .ts operations module.
const cli = join(dirname(fileURLToPath(import.meta.resolve('opledger'))), 'cli', 'main.js');

// #region worker
// npx opledger worker --store sqlite:opledger.db --operations ./worker-operations.js --concurrency 4
const worker = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    cli,
    'worker',
    '--store',
    url,
    '--operations',
    'examples/worker-operations.ts',
    '--concurrency',
    '4',
    '--identity',
    'worker-1',
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
// #endregion worker
let workerLog = '';
worker.stdout.on('data', (chunk: Buffer) => (workerLog += chunk.toString()));
const exited = new Promise<number | null>((resolve) => worker.on('close', resolve));

const stores = await createStore(url);
try {
  // #region client
  const client = createClient({ store: stores.eventStore, operations: [deploy] });
  const started = await Promise.all(
    ['web', 'api', 'admin'].map((handle) =>
      client.start({
        type: 'deploy',
        environment: 'production',
        resource: { type: 'app', handle },
        user: 'ada@example.com',
        params: { image: `${handle}:v2` },
      }),
    ),
  );
  for (const { result } of started) console.log((await result).summary);
  // #endregion client
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) =>
    client.logs(started[0]!.id).subscribe({
      next: (line) => void lines.push(line.message),
      complete: resolve,
      error: reject,
    }),
  );
  console.log(lines.find((m) => m.startsWith('Claimed by worker')));

  worker.kill('SIGTERM'); // shuts down gracefully: no new claims, its lease released
  console.log(`worker exited with ${await exited}`);
  const [w] = await listWorkers(stores.eventStore);
  console.log(
    `${w?.worker}: ${w?.status}, claimed ${workerLog.match(/claimed operation/g)?.length} operations`,
  );
} finally {
  if (worker.exitCode === null) worker.kill('SIGKILL');
  await stores.close();
  rmSync(folder, { recursive: true, force: true });
}
