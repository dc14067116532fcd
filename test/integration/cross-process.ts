import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createEngine, createStore, defineOperation, step } from '../../src/index.js';

const child = join(import.meta.dirname, 'fixtures', 'cancel-child.mjs');

/**
 * Starts an operation in a child process and cancels it from this one: the child's running
 * step must see its signal abort within a second.
 */
export const cancelAcrossProcesses = async (storeUrl: string) => {
  const proc = spawn(process.execPath, [child, storeUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let buffer = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', resolve));
  const lineStarting = async (prefix: string) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const found = lines.find((l) => l.startsWith(prefix));
      if (found) return found.slice(prefix.length);
      if (Date.now() > deadline || proc.exitCode !== null) {
        throw new Error(`child never printed '${prefix}': ${lines.join(' | ')} ${stderr}`);
      }
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  try {
    const id = await lineStarting('running ');
    const stores = await createStore(storeUrl);
    try {
      const engine = createEngine({
        store: stores.eventStore,
        operations: [
          defineOperation({
            type: 'deploy',
            steps: [step({ name: 'noop', kind: 'no_side_effects', run: () => undefined })],
          }),
        ],
      });
      const cancelledAt = Date.now();
      await engine.cancel(id, { user: 'bob@example.com' });
      const abortedAt = Number(await lineStarting('aborted '));
      const result = JSON.parse(await lineStarting('result ')) as Record<string, unknown>;
      expect(await exited).toBe(0);
      expect(result).toMatchObject({
        status: 'failed',
        cancelled: true,
        rollback: 'succeeded',
        failedStep: 'wait',
        started: true,
      });
      const latency = abortedAt - cancelledAt;
      expect(latency).toBeLessThan(1000);
      return latency;
    } finally {
      await stores.close();
    }
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
};
