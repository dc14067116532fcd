import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteEventStore } from '../../src/adapters/sqlite/index.js';
import type { EventStore } from '../../src/domain/event-store.js';

const root = join(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const worker = join(import.meta.dirname, 'fixtures', 'sqlite-process-worker.ts');

const WORKERS = 4;
const ROUNDS = 20;
const WAIT_MS = 20_000;

interface Message {
  kind: string;
  worker: string;
  [key: string]: unknown;
}
interface Ack {
  keys: string[];
  stream: string;
  revision: string;
  position: string;
}

interface Worker {
  name: string;
  child: ChildProcess;
  messages: Message[];
  stderr: string;
  exit: Promise<number | null>;
}

const children: ChildProcess[] = [];
let dir: string | undefined;
let store: EventStore | undefined;

afterEach(async () => {
  for (const child of children.splice(0)) {
    // Each worker leads its own process group (tsx runs node in a child): end the whole group.
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  await store?.close();
  store = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const start = (path: string, name: string, groupCommit: GroupCommitArg): Worker => {
  const child = spawn(tsx, [worker, path, name, String(ROUNDS), groupCommit], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const w: Worker = {
    name,
    child,
    messages: [],
    stderr: '',
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      w.messages.push(JSON.parse(buffer.slice(0, nl)) as Message);
      buffer = buffer.slice(nl + 1);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => (w.stderr += chunk.toString()));
  return w;
};

/** Waits until every worker has said `kind`; fails with their stderr if one dies or stalls. */
const allSaid = async (workers: readonly Worker[], kind: string): Promise<Message[]> => {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const found = workers.map((w) => w.messages.find((m) => m.kind === kind));
    if (found.every((m) => m !== undefined)) return found as Message[];
    const dead = workers.find((w) => w.child.exitCode !== null || w.child.signalCode !== null);
    if (dead && !dead.messages.some((m) => m.kind === kind)) {
      throw new Error(`worker ${dead.name} exited before '${kind}': ${dead.stderr}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for '${kind}': ${workers.map((w) => `${w.name}: ${w.stderr}`).join('; ')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

// The workers' `groupCommit` (sqlite-process-worker.ts): left out, the adaptive default, which
// goes eager for these workers (each awaits its appends); false, every commit at once; true,
// every append waits a turn of the event loop.
type GroupCommitArg = 'default' | 'false' | 'true';
const variants: { groupCommit: GroupCommitArg; label: string }[] = [
  { groupCommit: 'default', label: 'the default store (adaptive: eager for these writers)' },
  { groupCommit: 'false', label: 'groupCommit: false' },
  { groupCommit: 'true', label: 'groupCommit: true' },
];

describe.each(variants)(
  'one SQLite file shared by several processes, $label',
  ({ groupCommit }) => {
    it(
      'loses no acknowledged event, raises conflicts in the losers, and every subscriber sees everything',
      { timeout: 40_000 },
      async () => {
        dir = await mkdtemp(join(tmpdir(), 'opledger-sqlite-processes-'));
        const path = join(dir, 'shared.db');
        store = createSqliteEventStore({ path });
        const workers = Array.from({ length: WORKERS }, (_, i) =>
          start(path, `w${i}`, groupCommit),
        );
        await allSaid(workers, 'ready');

        await store.append('control', [{ type: 'Go', version: 1, data: {} }]);
        const reports = await allSaid(workers, 'appended');
        await store.append('control', [{ type: 'End', version: 1, data: {} }]);
        const seenReports = await allSaid(workers, 'seen');
        expect(await Promise.all(workers.map((w) => w.exit))).toEqual(workers.map(() => 0));

        const all = await store.readAll();
        // Positions: 1, 2, 3, ... with no hole and no repeat.
        expect(all.map((e) => e.globalPosition)).toEqual(all.map((_, i) => BigInt(i + 1)));

        // Every acknowledged event is there exactly once, where its append said it was.
        const acks = reports.flatMap((r) => r.acked as Ack[]);
        const byKey = new Map<string, (typeof all)[number]>();
        for (const e of all) {
          const key = (e.data as { key?: string }).key;
          if (key === undefined) continue;
          expect(byKey.has(key), `duplicate ${key}`).toBe(false);
          byKey.set(key, e);
        }
        const ackedKeys = acks.flatMap((a) => a.keys);
        expect(new Set(ackedKeys).size).toBe(ackedKeys.length);
        expect([...byKey.keys()].sort()).toEqual([...ackedKeys].sort());
        for (const ack of acks) {
          const last = byKey.get(ack.keys.at(-1) as string);
          expect(last?.streamName).toBe(ack.stream);
          expect(String(last?.streamRevision)).toBe(ack.revision);
          expect(String(last?.globalPosition)).toBe(ack.position);
        }
        expect(all).toHaveLength(2 + 1 + WORKERS * ROUNDS * 4);

        // The claim: one winner; every loser got a ConcurrencyError at revision 0.
        const claims = reports.map(
          (r) => r.claim as { won: boolean; code?: string; actual?: string },
        );
        expect(claims.filter((c) => c.won)).toHaveLength(1);
        for (const c of claims.filter((c) => !c.won)) {
          expect(c).toEqual({ won: false, code: 'CONCURRENCY_CONFLICT', actual: '0' });
        }

        // Streams stay gapless, and each writer's events keep its program order.
        const stream = (name: string) => all.filter((e) => e.streamName === name);
        const keysOf = (events: typeof all) => events.map((e) => (e.data as { key: string }).key);
        for (const name of ['shared', 'counter', ...workers.map((w) => `own-${w.name}`)]) {
          const events = stream(name);
          expect(events.map((e) => e.streamRevision)).toEqual(events.map((_, i) => BigInt(i)));
        }
        expect(stream('counter')).toHaveLength(WORKERS * ROUNDS);
        for (const w of workers) {
          const mine = (events: typeof all) =>
            keysOf(events).filter((k) => k.startsWith(`${w.name}/`));
          expect(mine(stream('shared'))).toEqual(
            Array.from({ length: ROUNDS }, (_, i) => `${w.name}/shared/${i}`),
          );
          expect(keysOf(stream(`own-${w.name}`))).toEqual(
            Array.from({ length: ROUNDS }, (_, i) => [
              `${w.name}/own/${i}/a`,
              `${w.name}/own/${i}/b`,
            ]).flat(),
          );
        }

        // Each process's subscriber saw the whole log, in order, once.
        const expected = all.map((e) => `${e.globalPosition}:${e.streamName}@${e.streamRevision}`);
        for (const report of seenReports) expect(report.seen).toEqual(expected);
        const conflicts = reports.reduce((n, r) => n + (r.counterConflicts as number), 0);
        console.log(`counter conflicts retried across processes: ${conflicts}`);
      },
    );
  },
);
