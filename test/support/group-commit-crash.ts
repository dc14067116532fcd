/**
 * The group-commit crash test, one for every store that group-commits (SQLite, PostgreSQL):
 * a writer process keeps many appends in flight and is killed with SIGKILL mid-commit, again
 * and again; then the log must hold every acknowledged append, whole, and no refused one.
 *
 * The writer side (writeUntilKilled) runs in the child processes of
 * test/integration/fixtures/group-commit-child.ts and pg-group-commit-child.ts; the test side
 * (spawnWriter, killWriters, expectNothingAckedLost) in the two group-commit test files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type {
  EventData,
  EventStore,
  RecordedEvent,
  StreamWrite,
} from '../../src/domain/event-store.js';

const IN_FLIGHT = 48;
const STREAMS = 16;

/** What an appended event holds: its append's id, its place in it, and whether it was doomed. */
type Data = { id: string; index: number; count: number; doomed: boolean };

const events = (id: string, count: number, doomed: boolean): EventData[] =>
  Array.from({ length: count }, (_, index) => ({
    type: 'Written',
    version: 1,
    data: { id, index, count, doomed } satisfies Data,
  }));

/**
 * Keeps `inFlight` (IN_FLIGHT unless told) appends in flight on `store` until the process is killed, logging each one's
 * acknowledgement (its id, `<run>/<n>`) to `ackPath` with a synchronous write the moment its
 * promise resolves: what the file lists was acknowledged before the kill. `before(n)` runs as
 * the nth append is made, `acked()` after each acknowledgement is logged.
 *
 * Appends of 1 to 4 events. Every 5th is doomed (its expected version cannot hold), so its
 * batch has a refused unit beside the others; every 3rd writes two streams at once
 * (appendToStreams), which must be all or none too. Any other failure ends the process with a
 * non-zero code, which the test sees.
 */
export const writeUntilKilled = async (
  store: EventStore,
  {
    run,
    ackPath,
    before = () => undefined,
    acked = () => undefined,
    inFlight = IN_FLIGHT,
  }: {
    run: string;
    ackPath: string;
    before?: (n: number) => void;
    acked?: () => void;
    /** Appends kept in flight; 1 makes a lone writer awaiting each append. */
    inFlight?: number;
  },
): Promise<void> => {
  const acks = openSync(ackPath, 'a');
  let next = 0;
  const appender = async (): Promise<void> => {
    for (;;) {
      const n = next++;
      before(n);
      const id = `${run}/${n}`;
      const count = 1 + (n % 4);
      const stream = `s-${n % STREAMS}`;
      if (n % 5 === 0) {
        // Nothing ever writes never-*: 'stream_exists' on it is always refused, and so is the
        // whole of a two-stream append that includes it.
        const refused = { stream: `never-${n % STREAMS}`, events: events(id, 1, true) };
        const attempt =
          n % 2 === 0
            ? store.append(refused.stream, refused.events, { expectedVersion: 'stream_exists' })
            : store.appendToStreams!([
                { stream, events: events(id, count, true) },
                { ...refused, expectedVersion: 'stream_exists' },
              ]);
        await attempt.then(
          () => {
            throw new Error(`doomed append ${id} was accepted`);
          },
          (error: unknown) => {
            if ((error as { code?: string }).code !== 'CONCURRENCY_CONFLICT') throw error;
          },
        );
        continue;
      }
      if (n % 3 === 0) {
        const writes: StreamWrite[] = [
          { stream, events: events(id, count, false) },
          { stream: `pair-${n % STREAMS}`, events: events(`${id}/pair`, 2, false) },
        ];
        await store.appendToStreams!(writes);
      } else {
        await store.append(stream, events(id, count, false));
      }
      writeSync(acks, `${id}\n`);
      acked();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, appender)).finally(() => closeSync(acks));
};

const root = join(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

export interface Writer {
  process: ChildProcess;
  /** Resolves once the writer printed 'ready'; rejects if it exits first. */
  ready: Promise<void>;
  /** The signal that ended it, or its exit code, as text. */
  exited: Promise<string>;
  output: () => string;
  errors: () => string;
}

/**
 * Starts `script` (a tsx file) with `args` in a process group of its own, so that
 * killWriters (SIGKILL to the group) leaves nothing behind; it is added to `children`.
 */
export const spawnWriter = (script: string, args: string[], children: ChildProcess[]): Writer => {
  const c = spawn(tsx, [script, ...args], {
    cwd: root,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(c);
  let stdout = '';
  let stderr = '';
  c.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  c.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<string>((resolve) =>
    c.on('exit', (code, signal) => resolve(String(signal ?? code))),
  );
  const ready = new Promise<void>((resolve, reject) => {
    c.stdout?.on('data', () => {
      if (stdout.includes('ready\n')) resolve();
    });
    void exited.then((how) => reject(new Error(`writer exited (${how}): ${stderr}`)));
  });
  return { process: c, ready, exited, output: () => stdout, errors: () => stderr };
};

/** SIGKILLs the process group of every child still running, and forgets them all. */
export const killWriters = (children: ChildProcess[]): void => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
};

/**
 * What the log must hold after writers were killed mid-commit (`all`, without warm-up events),
 * given the ids they logged as acknowledged: streams gapless, every append whole or absent, no
 * doomed one, two-stream appends on both streams or neither, nothing acknowledged lost. With
 * `densePositions` (SQLite: one writer at a time, no sequence), global positions are 1, 2, 3…
 */
export const expectNothingAckedLost = (
  all: readonly RecordedEvent[],
  acked: readonly string[],
  { densePositions }: { densePositions: boolean },
): void => {
  if (densePositions) {
    expect(all.map((e) => e.globalPosition)).toEqual(all.map((_, i) => BigInt(i + 1)));
  }
  const streams = new Map<string, RecordedEvent[]>();
  for (const e of all) streams.set(e.streamName, [...(streams.get(e.streamName) ?? []), e]);
  for (const events of streams.values()) {
    expect(events.map((e) => e.streamRevision)).toEqual(events.map((_, i) => BigInt(i)));
  }
  // Every append is there whole or not at all, and the refused ones are not there.
  const byAppend = new Map<string, Data[]>();
  for (const e of all) {
    const data = e.data as Data;
    expect(data.doomed, `refused append ${data.id} was stored`).toBe(false);
    byAppend.set(data.id, [...(byAppend.get(data.id) ?? []), data]);
  }
  for (const [id, parts] of byAppend) {
    expect(
      parts.map((p) => p.index),
      id,
    ).toEqual(parts.map((_, i) => i));
    expect(parts).toHaveLength(parts[0]!.count);
  }
  // A two-stream append is whole on both streams, or on neither.
  const n = (id: string) => Number(id.split('/')[1]);
  for (const id of byAppend.keys()) {
    if (id.endsWith('/pair')) expect(byAppend.has(id.slice(0, -'/pair'.length))).toBe(true);
    else if (n(id) % 3 === 0) expect(byAppend.has(`${id}/pair`), id).toBe(true);
  }
  // Nothing acknowledged is lost.
  expect(acked.filter((id) => !byAppend.has(id))).toEqual([]);
};
