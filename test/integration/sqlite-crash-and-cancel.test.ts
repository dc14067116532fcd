import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { crashSeries } from './crash-recovery.js';
import { cancelAcrossProcesses } from './cross-process.js';

const dir = mkdtempSync(join(tmpdir(), 'opledger-sqlite-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite across processes and crashes', () => {
  it('a cancel from another process reaches the running step within a second', async () => {
    const latency = await cancelAcrossProcesses(`sqlite:${join(dir, 'cancel.db')}`);
    console.log(`cross-process cancel on SQLite: ${latency} ms`);
  });

  it('30 SIGKILLs at random points: recover() ends every operation terminal, rollback invariants hold, no acknowledged event is lost, projections equal a rebuild', async () => {
    await crashSeries('SQLite', (run, work) => work(`sqlite:${join(dir, `crash-${run}.db`)}`));
  }, 300_000);
});
