import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import {
  killBetweenWrites,
  pauseMidRace,
  raceAcrossProcesses,
  raceAcrossSnapshots,
} from './request-order.js';

const dir = mkdtempSync(join(tmpdir(), 'opledger-sqlite-request-order-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('request order on one SQLite file shared by processes', () => {
  it('requests racing from 3 processes at one instant run in the order of their places in the store, and after every request that had resolved', async () => {
    await raceAcrossProcesses(`sqlite:${join(dir, 'race.db')}`, 'web');
  }, 60_000);

  it('a process killed between the two writes of a start(): a retry of its key keeps its place, recover() drops it otherwise', async () => {
    await killBetweenWrites(`sqlite:${join(dir, 'crash.db')}`, 'web');
  }, 60_000);

  it('on a resource with 1,000 past operations and no snapshot yet, 3 then 6 new processes racing at one instant keep request order and one at a time across the snapshots they write', async () => {
    await raceAcrossSnapshots(`sqlite:${join(dir, 'snapshots.db')}`, 'web');
  }, 90_000);

  it('a process paused (SIGSTOP) while its operation holds the resource, resumed after the others placed more requests: every operation starts and finishes once, one at a time, in request order', async () => {
    await pauseMidRace(`sqlite:${join(dir, 'pause.db')}`, 'web');
  }, 60_000);
});
