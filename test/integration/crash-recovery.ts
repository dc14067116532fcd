import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import {
  createEngine,
  createInMemoryReadStore,
  createStore,
  type OperationEvent,
} from '../../src/index.js';
import { createEventDecoder, foldOperation } from '../../src/domain/index.js';
import { createProjector } from '../../src/projections/index.js';
import { toOperationResult } from '../../src/engine/operation-result.js';
import type { ResourceEvent } from '../../src/domain/events.js';
import { evolveResourceQueue, initialResourceQueue } from '../../src/domain/resource-queue.js';
import { dumpReadStore } from '../support/read-store-dump.js';

import { crashOperations, worldHas } from './fixtures/crash-world.mjs';

const child = join(import.meta.dirname, 'fixtures', 'crash-child.mjs');
const decode = createEventDecoder();

interface Ack {
  stream: string;
  revision: string;
  count: number;
}

/** Starts the child, kills it with SIGKILL `afterMs` after it is ready; returns its acks. */
const runAndKill = (storeUrl: string, worldDir: string, afterMs: number) =>
  new Promise<{ acks: Ack[]; finished: boolean }>((resolve, reject) => {
    const proc = spawn(process.execPath, [child, storeUrl, worldDir, '4'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acks: Ack[] = [];
    let buffer = '';
    let stderr = '';
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line === 'ready') timer = setTimeout(() => proc.kill('SIGKILL'), afterMs);
        else if (line === 'done') finished = true;
        else if (line.startsWith('ack ')) acks.push(JSON.parse(line.slice(4)) as Ack);
      }
    });
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(deadline);
      if (signal !== 'SIGKILL' && code !== 0)
        reject(new Error(`child failed (${code}): ${stderr}`));
      else resolve({ acks, finished });
    });
  });

/**
 * One crash run: a child runs operations on `storeUrl` and is killed at a random point; this
 * process recovers them and checks the rollback invariants, the acknowledged events and the
 * projections.
 */
export const crashRun = async (
  storeUrl: string,
  afterMs: number,
  settle: () => Promise<void> = async () => undefined,
) => {
  const worldDir = mkdtempSync(join(tmpdir(), 'opledger-world-'));
  try {
    const { acks, finished } = await runAndKill(storeUrl, worldDir, afterMs);
    // A statement the dead process had already sent may still commit on a database server:
    // recovery starts once the server has finished with the dead process's sessions.
    await settle();
    const stores = await createStore(storeUrl);
    try {
      const engine = createEngine({
        store: stores.eventStore,
        operations: crashOperations(worldDir),
      });
      await engine.recover();

      // No acknowledged event is lost.
      for (const ack of acks) {
        const events = await stores.eventStore.readStream(ack.stream);
        expect(events.length, `${ack.stream} lost revision ${ack.revision}`).toBeGreaterThan(
          Number(ack.revision),
        );
      }

      const journal = (() => {
        try {
          return readFileSync(join(worldDir, 'journal'), 'utf8').trim().split('\n').filter(Boolean);
        } catch {
          return [];
        }
      })();
      const all = await stores.eventStore.readAll();
      const streams = [...new Set(all.map((e) => e.streamName))].filter((s) =>
        s.startsWith('operation-'),
      );
      for (const stream of streams) {
        const id = stream.slice('operation-'.length);
        const state = foldOperation(
          all.filter((e) => e.streamName === stream).map((e) => decode(e) as OperationEvent),
        );
        const result = toOperationResult(state);
        expect(['succeeded', 'failed']).toContain(result.status);
        expect(result.rollback).not.toBe('in_progress');
        const ran = journal.filter((l) => l.startsWith(`run ${id} `)).map((l) => l.split(' ')[2]!);
        if (result.status === 'succeeded') {
          for (const name of ['migrate', 'start', 'switch'])
            expect(worldHas(worldDir, id, name)).toBe(true);
          continue;
        }
        // Undoable changes are gone; a migration that ran stays, and is reported.
        expect(worldHas(worldDir, id, 'start')).toBe(false);
        expect(worldHas(worldDir, id, 'switch')).toBe(false);
        // The file is the truth: a kill can land between writing it and journalling the run.
        const migrated = worldHas(worldDir, id, 'migrate');
        if (ran.includes('migrate')) expect(migrated).toBe(true);
        const reported = result.notUndone.map((n) => `${n.step}:${n.reason}`);
        if (migrated) expect(reported).toContain('migrate:irreversible');
        expect(reported.filter((r) => r !== 'migrate:irreversible')).toEqual([]);
        // Undos (first of each) ran in exact reverse order of the runs.
        const undos = [
          ...new Set(
            journal.filter((l) => l.startsWith(`undo ${id} `)).map((l) => l.split(' ')[2]!),
          ),
        ].filter((n) => ran.includes(n));
        expect(undos).toEqual(ran.filter((n) => n !== 'migrate').reverse());
      }

      // No resource queue is left held or waited on, not even by a place whose start() was
      // killed before writing its operation.
      const queues = [...new Set(all.map((e) => e.streamName))].filter((s) =>
        s.startsWith('resource-'),
      );
      for (const stream of queues) {
        const queue = all
          .filter((e) => e.streamName === stream)
          .reduce(
            (q, e) => evolveResourceQueue(q, decode(e) as ResourceEvent),
            initialResourceQueue(),
          );
        expect(queue, stream).toEqual({ waiting: [] });
      }

      // The projections the child left, caught up, equal a rebuild from scratch.
      await createProjector({ store: stores.eventStore, readStore: stores.readStore }).catchUp();
      const rebuilt = createInMemoryReadStore();
      await createProjector({ store: stores.eventStore, readStore: rebuilt }).catchUp();
      expect(await dumpReadStore(stores.readStore, ['production'])).toEqual(
        await dumpReadStore(rebuilt, ['production']),
      );
      return { acks: acks.length, operations: streams.length, finished };
    } finally {
      await stores.close();
    }
  } finally {
    rmSync(worldDir, { recursive: true, force: true });
  }
};

/**
 * 30 crash runs, each on a fresh store from `withStore`, killed at a random time; checks that
 * most runs really were killed mid-way, and names the run and kill time of a failure.
 */
export const crashSeries = async (
  label: string,
  withStore: <T>(
    run: number,
    work: (url: string, settle?: () => Promise<void>) => Promise<T>,
  ) => Promise<T>,
) => {
  let acks = 0;
  let killedMidway = 0;
  for (let run = 0; run < 30; run++) {
    const afterMs = Math.floor(Math.random() * 250);
    try {
      const outcome = await withStore(run, (url, settle) => crashRun(url, afterMs, settle));
      acks += outcome.acks;
      if (!outcome.finished) killedMidway++;
    } catch (error) {
      (error as Error).message =
        `run ${run} (killed ${afterMs} ms after start): ${(error as Error).message}`;
      throw error;
    }
  }
  console.log(
    `${label} crash runs: ${killedMidway} of 30 killed mid-way, ${acks} acknowledged appends`,
  );
  expect(acks).toBeGreaterThan(0);
  expect(killedMidway).toBeGreaterThanOrEqual(15);
};
