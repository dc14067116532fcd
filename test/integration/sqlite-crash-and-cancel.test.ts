import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crashRun } from './crash-recovery.js';
import { cancelAcrossProcesses } from './cross-process.js';

const dir = mkdtempSync(join(tmpdir(), 'opledger-sqlite-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite across processes and crashes', () => {
  it('a cancel from another process reaches the running step within a second', async () => {
    const latency = await cancelAcrossProcesses(`sqlite:${join(dir, 'cancel.db')}`);
    console.log(`cross-process cancel on SQLite: ${latency} ms`);
  });

  it('30 SIGKILLs at random points: recover() ends every operation terminal, rollback invariants hold, no acknowledged event is lost, projections equal a rebuild', async () => {
    let acks = 0;
    let killedMidway = 0;
    for (let run = 0; run < 30; run++) {
      const afterMs = Math.floor(Math.random() * 250);
      try {
        const outcome = await crashRun(`sqlite:${join(dir, `crash-${run}.db`)}`, afterMs);
        acks += outcome.acks;
        if (!outcome.finished) killedMidway++;
      } catch (error) {
        (error as Error).message =
          `run ${run} (killed ${afterMs} ms after start): ${(error as Error).message}`;
        throw error;
      }
    }
    console.log(
      `SQLite crash runs: ${killedMidway} of 30 killed mid-way, ${acks} acknowledged appends`,
    );
    expect(acks).toBeGreaterThan(0);
    expect(killedMidway).toBeGreaterThanOrEqual(15);
  }, 300_000);
});
