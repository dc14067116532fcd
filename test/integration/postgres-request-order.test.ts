import { describe, it } from 'vitest';
import { useTestDatabase } from '../support/postgres-database.js';
import {
  killBetweenWrites,
  pauseMidRace,
  raceAcrossProcesses,
  raceAcrossSnapshots,
} from './request-order.js';

const database = useTestDatabase();

// One database for the file: each test has a resource of its own in it.
describe('request order on PostgreSQL shared by processes', () => {
  it('requests racing from 3 processes at one instant run in the order of their places in the store, and after every request that had resolved', async () => {
    await raceAcrossProcesses(database.url, 'race');
  }, 60_000);

  it('a process killed between the two writes of a start(): a retry of its key keeps its place, recover() drops it otherwise', async () => {
    await killBetweenWrites(database.url, 'crash');
  }, 60_000);

  it('on a resource with 1,000 past operations and no snapshot yet, 3 then 6 new processes racing at one instant keep request order and one at a time across the snapshots they write', async () => {
    await raceAcrossSnapshots(database.url, 'snapshots');
  }, 90_000);

  it('a process paused (SIGSTOP) while its operation holds the resource, resumed after the others placed more requests: every operation starts and finishes once, one at a time, in request order', async () => {
    await pauseMidRace(database.url, 'pause');
  }, 60_000);
});
