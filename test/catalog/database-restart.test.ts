import { firstValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { SimulatedCloud } from '../../src/adapters/infrastructure/index.js';
import { databaseRestart } from '../../src/catalog/database/index.js';
import {
  DB,
  OLD,
  databaseState,
  databaseWorld,
  dbDowntime,
  type DatabaseWorld,
} from './database-world.js';

const ROLLBACK_SUCCEEDED =
  'Rollback succeeded: everything was restored to the way it was before the operation.';

const withoutTime = (cloud: SimulatedCloud) => {
  const { now: _now, ...state } = cloud.snapshot();
  return state;
};
const logOf = async (w: DatabaseWorld, id: string) =>
  (await firstValueFrom(w.engine.logs(id).pipe(toArray()))).map((l) => l.message);
const changes = (cloud: SimulatedCloud) =>
  cloud.timeline().filter((e) => e.kind.startsWith('container-'));

describe('database.restart', () => {
  it('restarts the database: checked, stopped, started again', async () => {
    const w = await databaseWorld((cloud) => [databaseRestart(cloud)]);
    const result = await w.run('database.restart', DB);
    expect(result.status).toBe('succeeded');
    expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);
    expect(databaseState(w.cloud).container?.state).toBe('running');
    expect((await logOf(w, result.id)).join('\n')).toMatch(
      /Database db runs in container c-db on instance i-old/,
    );
  });

  it.each([
    [
      'a container that does not exist',
      { containerId: 'c-nope' },
      /container c-nope does not exist/,
    ],
    [
      'a database that does not exist',
      { databaseId: 'db-nope', volumeId: 'v-nope', containerId: 'c-nope' },
      /container c-nope does not exist/,
    ],
    [
      "another database's container",
      { volumeId: 'v-other' },
      /container c-db does not use volume v-other/,
    ],
  ])('on %s: fails before changing anything, nothing to roll back', async (_, ref, message) => {
    const w = await databaseWorld((cloud) => [databaseRestart(cloud)]);
    const before = withoutTime(w.cloud);
    const t0 = w.clock.now().getTime();
    const timeline = changes(w.cloud).length;
    const result = await w.run('database.restart', { ...DB, ...ref });
    expect(result.status).toBe('failed');
    expect(result.failedStep).toBe('check database');
    expect(result.error?.message).toMatch(message);
    expect(result.error?.message).toMatch(/nothing was changed/);
    // Nothing was stopped, so nothing had to be undone, and the verdict does not pretend so.
    expect(result.rollback).not.toBe('failed');
    expect(result.notUndone).toEqual([]);
    expect(result.summary).not.toMatch(/Rollback failed/);
    expect(result.summary).toMatch(/Rollback succeeded|Nothing needed rolling back/);
    const log = await logOf(w, result.id);
    expect(log.join('\n')).not.toMatch(/stop container|start container/);
    expect(log.at(-1)).toMatch(new RegExp(`${ROLLBACK_SUCCEEDED}|Nothing needed rolling back`));
    // Untouched, at once: no stop, no start, not retried for minutes.
    expect(withoutTime(w.cloud)).toEqual(before);
    expect(changes(w.cloud)).toHaveLength(timeline);
    expect(dbDowntime(w.cloud)).toBe(0);
    expect(w.clock.now().getTime() - t0).toBeLessThan(10_000);
  });

  it('starts a stopped database, and the undo of a stop that stopped nothing leaves it stopped', async () => {
    const w = await databaseWorld((cloud) => [databaseRestart(cloud)]);
    await w.cloud.containers.stopContainer({ containerId: DB.containerId });
    expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(false);
    const result = await w.run('database.restart', DB);
    expect(result.status).toBe('succeeded');
    expect(await w.cloud.databases.acceptsConnections(DB.databaseId)).toBe(true);

    // Driven directly: the container was already stopped when the restart began, so the
    // stop changed nothing and its undo must not start the database behind the user's back.
    await w.cloud.containers.stopContainer({ containerId: DB.containerId });
    const stop = databaseRestart(w.cloud).steps.find((s) => s.name === 'stop container');
    const lines: string[] = [];
    await stop?.undo?.({
      operationId: 'op-x',
      params: DB,
      outcome: 'succeeded',
      output: { stoppedBy: 'already-stopped' },
      outputs: {},
      provider: undefined,
      log: (m) => lines.push(m),
      attempt: 1,
      fence: 0,
      signal: new AbortController().signal,
    });
    expect(databaseState(w.cloud).container?.state).toBe('exited');
    expect(lines.join('\n')).toMatch(/already stopped/);
    expect(databaseState(w.cloud).container?.instanceId).toBe(OLD);
  });
});
