import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createStore, type RecordedEvent } from '../../src/index.js';
import { leaseOfStream } from '../../src/domain/stream-names.js';
import { openEffects, type Write } from '../integration/fixtures/chaos-effects.js';

/**
 * The chaos run of the workers issue: worker processes killed with SIGKILL and restarted, one
 * paused with SIGSTOP mid-step past its lease, a client process that raced every request, and
 * a side-effect table that fences stale writers. `checkChaos` then proves what must hold.
 */
export interface ChaosOptions {
  storeUrl: string;
  /** A PostgreSQL URL or a SQLite file for the side-effect table. */
  effects: string;
  workers: number;
  operations: number;
  resources: number;
  ttlMs: number;
  renewEveryMs: number;
  concurrency: number;
  killEveryMs: number;
  /** Stop the whole run (and fail) after this long. */
  deadlineMs: number;
  seed: number;
}

const root = join(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const fixtures = join(root, 'test', 'integration', 'fixtures');

interface Message {
  kind: string;
  pid?: number;
  [key: string]: unknown;
}

interface Proc {
  identity: string;
  child: ChildProcess;
  messages: Message[];
  stderr: string;
  /** When it said 'lease': its worker is running and looks for work from then on. */
  readyAt?: number;
  signal(name: NodeJS.Signals): void;
  said(kind: string, match?: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  alive(): boolean;
}

const spawnProc = (identity: string, script: string, args: string[]): Proc => {
  // Its own process group: tsx runs node in a child, and a signal must reach both.
  const child = spawn(tsx, [join(fixtures, script), ...args], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p: Proc = {
    identity,
    child,
    messages: [],
    stderr: '',
    alive: () => child.exitCode === null && child.signalCode === null,
    signal: (name) => {
      if (!p.alive() || child.pid === undefined) return;
      try {
        process.kill(-child.pid, name);
      } catch {
        // Already gone.
      }
    },
    said: async (kind, match = () => true, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = p.messages.find((m) => m.kind === kind && match(m));
        if (found) return found;
        if (!p.alive() || Date.now() > deadline) {
          throw new Error(`${identity} never said '${kind}': ${p.stderr.slice(-2000)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
  };
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        const message = JSON.parse(line) as Message;
        if (message.kind === 'lease') p.readyAt ??= Date.now();
        p.messages.push(message);
      } catch {
        p.stderr += `${line}\n`;
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => (p.stderr += chunk.toString()));
  return p;
};

export interface ChaosReport {
  results: { id: string; status: string; rollback: string }[];
  kills: { identity: string; pid: number; at: number }[];
  paused: {
    identity: string;
    lease: string;
    pid: number;
    op: string;
    messages: Message[];
    /** Which try this pause was (on SQLite a pause holding the file's lock is given up). */
    attempt: number;
  };
  /** Death (SIGKILL) to the successor's first event, per kill whose worker held operations. */
  takeoverLatenciesMs: number[];
  /** What each measured takeover latency consists of. */
  takeovers: TakeoverTiming[];
  events: RecordedEvent[];
  journal: (Write & { at: number })[];
  refusals: (Write & { at: number })[];
  inPlace: { op: string; step: string }[];
}

/**
 * One takeover latency in its parts, from the store's events: what was left of the dead worker's
 * lease when it was killed (its last renewal + ttl - the kill), how long after the expiry the
 * successor's pass found it past its time to live (the `at` of WorkerLeaseExpired), the append
 * of that expiry, and the claim (the operation read and OperationTakenOver appended).
 */
export interface TakeoverTiming {
  latencyMs: number;
  /**
   * From the kill until a successor could act: 0 when a worker was running then, else until
   * one started (a restarted process) or was continued (the pause; on SQLite any process
   * stopped, as it may hold the file's write lock).
   */
  successorWaitMs: number;
  leaseLeftMs: number;
  detectionMs: number;
  expireAppendMs: number;
  claimMs: number;
  /** The successor is a process started after the kill (no older worker took over). */
  successorStartedAfterKill: boolean;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What is stuck, for the failure message: unfinished operations and what the workers said. */
const diagnose = async (storeUrl: string, procs: Proc[]): Promise<string> => {
  const store = await createStore(storeUrl);
  try {
    const events = await store.eventStore.readAll();
    const last = new Map<string, RecordedEvent>();
    for (const e of events) if (e.streamName.startsWith('operation-')) last.set(e.streamName, e);
    const ended = ['OperationSucceeded', 'RollbackFinished'];
    const stuck = [...last.values()].filter(
      (e) =>
        !ended.includes(e.type) &&
        !(
          e.type === 'OperationFailed' &&
          !(e.data as { rollbackRequired: boolean }).rollbackRequired
        ),
    );
    const queues = new Map<string, string[]>();
    for (const e of events) {
      if (!e.streamName.startsWith('resource-')) continue;
      const id = (e.data as { operationId: string }).operationId.slice(-6);
      queues.set(e.streamName, [
        ...(queues.get(e.streamName) ?? []),
        `${e.type.replace('ResourceOperation', '')}:${id}`,
      ]);
    }
    const stuckResources = new Set(
      stuck.map((e) => {
        const first = events.find((x) => x.streamName === e.streamName)!;
        const r = (first.data as { resource: { handle: string } }).resource.handle;
        return `resource-chaos/app/${r}`;
      }),
    );
    const leases = events.filter(
      (e) => e.streamName.startsWith('worker-') && e.type !== 'WorkerLeaseRenewed',
    );
    return [
      `${stuck.length} of ${last.size} operations unfinished; last events: ${stuck
        .slice(0, 10)
        .map(
          (e) =>
            `${e.streamName.slice(-6)}@${e.streamRevision} ${e.type} ${e.type === 'OperationRequested' ? '' : JSON.stringify(e.data)}`,
        )
        .join(' | ')}`,
      ...[...stuckResources].map((q) => `${q}: ${(queues.get(q) ?? []).slice(-8).join(' ')}`),
      `leases: ${leases.map((e) => `${e.streamName} ${e.type}`).join(', ')}`,
      ...procs.map(
        (p) =>
          `${p.identity} (${p.alive() ? 'alive' : 'dead'}): ${p.messages
            .filter((m) => m.kind === 'log')
            .slice(-5)
            .map((m) => String(m.message))
            .join(' / ')} ${p.stderr.slice(-500)}`,
      ),
    ].join('\n');
  } finally {
    await store.close();
  }
};

export const runChaos = async (o: ChaosOptions): Promise<ChaosReport> => {
  const all: Proc[] = [];
  const dumpInfo: { kills?: unknown; stops?: unknown } = {};
  const spawnWorker = (identity: string) => {
    const p = spawnProc(identity, 'chaos-worker.ts', [
      o.storeUrl,
      o.effects,
      identity,
      String(o.ttlMs),
      String(o.renewEveryMs),
      String(o.concurrency),
    ]);
    all.push(p);
    return p;
  };
  const startWorker = async (identity: string) => {
    const p = spawnWorker(identity);
    await p.said('lease');
    return p;
  };
  try {
    // The side-effect tables exist before any worker writes.
    await (await openEffects(o.effects)).close();
    const workers = await Promise.all(
      Array.from({ length: o.workers }, (_, i) => startWorker(`w${i + 1}`)),
    );
    const client = spawnProc('client', 'chaos-client.ts', [
      o.storeUrl,
      String(o.operations),
      String(o.resources),
      String(o.seed),
    ]);
    all.push(client);
    await client.said('started');

    const kills: ChaosReport['kills'] = [];
    /** The SIGSTOP windows of the pause (a process stopped cannot take anything over). */
    const stops: { pid: number; from: number; to: number }[] = [];
    dumpInfo.kills = kills;
    dumpInfo.stops = stops;
    let paused: ChaosReport['paused'] | undefined;
    let pausedIndex = -1;
    let nextKill = Date.now() + o.killEveryMs;
    // mulberry32: an LCG's low bits alternate, which would always kill the same worker.
    let random = o.seed >>> 0;
    const pick = (n: number) => {
      random = (random + 0x6d2b79f5) >>> 0;
      let t = random;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
    };
    const deadline = Date.now() + o.deadlineMs;
    const done = () => client.messages.some((m) => m.kind === 'done');

    // The pause: the next step a worker starts, SIGSTOP at once, mid-step; continued once its
    // successor took the operation over and wrote to the table under the new fence.
    // On SQLite a process paused inside a write transaction holds the file's lock, and no one
    // can take anything over until it continues: such a pause is given up after a while and
    // tried again on another step (on PostgreSQL a paused session holds nothing of the others').
    const takenOver = async (lease: string, op: string, fence: number, giveUpAt: number) => {
      const effects = await openEffects(o.effects);
      const store = (await createStore(o.storeUrl)).eventStore;
      try {
        for (;;) {
          if (Date.now() > giveUpAt) return false;
          const taken = (await store.readStream(`operation-${op}`)).some(
            (e) =>
              e.type === 'OperationTakenOver' &&
              (e.data as { from: { lease: string } }).from.lease === lease,
          );
          const successorWrote = (await effects.journal()).some(
            (w) => w.op === op && w.fence > fence,
          );
          if (taken && successorWrote) return true;
          await delay(20);
        }
      } catch {
        return false; // the store is locked by the paused process (SQLite)
      } finally {
        await store.close().catch(() => undefined);
        await effects.close().catch(() => undefined);
      }
    };
    /** A worker that can take over now: alive, started, and not stopped by the pause. */
    const running = (p: Proc) => {
      const pid = p.messages.find((m) => m.kind === 'hello')?.pid;
      return (
        p.alive() &&
        p.readyAt !== undefined &&
        !stops.some((s) => s.pid === pid && s.to === Infinity)
      );
    };
    const pause = (async () => {
      for (let attempt = 1; ; attempt++) {
        const index = pick(o.workers);
        const target = workers[index]!;
        // Out of the kills from now on: a target killed while it waits for its next step would
        // never say it (under load, the kill loop often came first).
        pausedIndex = index;
        const seen = target.messages.length;
        const stepMsg = await target.said('step', (m) => target.messages.indexOf(m) >= seen);
        // This may stop the only worker running: right after a kill the other is still starting
        // (seconds under load). Waiting for one to run instead left no step to pause once the
        // work was done. The takeover bound counts that wait (successorWaitMs, from `stops`).
        target.signal('SIGSTOP');
        const stop = { pid: Number(stepMsg.pid), from: Date.now(), to: Infinity };
        stops.push(stop);
        const lease = String(target.messages.find((m) => m.kind === 'lease')?.lease);
        const op = String(stepMsg.op);
        const giveUpAt = Date.now() + 4 * o.ttlMs + 2_000;
        const taken = await takenOver(lease, op, Number(stepMsg.fence), giveUpAt);
        target.signal('SIGCONT');
        stop.to = Date.now();
        // A stale worker stays out of the kills: its late write is what the run must see.
        if (taken) {
          paused = {
            identity: target.identity,
            lease,
            pid: Number(stepMsg.pid),
            op,
            messages: target.messages,
            attempt,
          };
          return;
        }
        pausedIndex = -1;
        if (attempt >= 5) throw new Error('no paused worker was ever taken over');
      }
    })();

    while (!done()) {
      if (Date.now() > deadline) {
        throw new Error(
          `the chaos run did not end in ${o.deadlineMs} ms: ${await diagnose(o.storeUrl, all)}`,
        );
      }
      if (!client.alive() && !done()) throw new Error(`the client died: ${client.stderr}`);
      if (Date.now() >= nextKill) {
        const candidates = workers.map((_, i) => i).filter((i) => i !== pausedIndex);
        const index = candidates[pick(candidates.length)]!;
        const victim = workers[index]!;
        // A kill leaves a worker running to take over (the issue's latency is a running
        // successor's): while the only other one is stopped (the pause) or still starting, the
        // kill waits. Under load a restarted process takes seconds to run, and a stopped one
        // takes nothing over, the paused worker's operation included.
        if (!workers.some((p, i) => i !== index && running(p))) {
          await delay(20);
          continue;
        }
        const pid = victim.messages.find((m) => m.kind === 'hello')?.pid;
        victim.signal('SIGKILL');
        if (pid !== undefined) kills.push({ identity: victim.identity, pid, at: Date.now() });
        workers[index] = spawnWorker(victim.identity);
        nextKill = Date.now() + o.killEveryMs;
      }
      await delay(20);
    }
    await pause;
    // The stale worker's abort may come just after its successor finished: give it a moment.
    const stale = paused!;
    const staleProc = all.find((p) => p.messages === stale.messages)!;
    await staleProc.said('refused', (m) => m.op === stale.op, 20_000).catch(() => undefined); // checked below, with what it said

    const results = (client.messages.find((m) => m.kind === 'done')!.results ??
      []) as ChaosReport['results'];
    const store = await createStore(o.storeUrl);
    const effects = await openEffects(o.effects);
    try {
      const events = await store.eventStore.readAll();
      const takeoverLatenciesMs: number[] = [];
      const takeovers: TakeoverTiming[] = [];
      const sqlite = o.storeUrl.startsWith('sqlite:');
      for (const kill of kills) {
        // The leases that process held (a worker takes a new one after losing one).
        const leases = new Set(
          events
            .filter(
              (e) =>
                e.type === 'WorkerLeaseAcquired' && (e.data as { pid: number }).pid === kill.pid,
            )
            .map((e) => (e.data as { lease: string }).lease),
        );
        const first = events.find(
          (e) =>
            e.type === 'OperationTakenOver' &&
            e.recordedAt.getTime() >= kill.at &&
            leases.has((e.data as { from: { lease: string } }).from.lease),
        );
        if (!first) continue;
        const latencyMs = first.recordedAt.getTime() - kill.at;
        takeoverLatenciesMs.push(latencyMs);
        const taken = first.data as { from: { lease: string }; lease: string; at: string };
        const expired = events.find(
          (e) =>
            e.type === 'WorkerLeaseExpired' && leaseOfStream(e.streamName) === taken.from.lease,
        );
        const successorAcquired = events.find(
          (e) =>
            e.type === 'WorkerLeaseAcquired' && (e.data as { lease: string }).lease === taken.lease,
        );
        if (!expired) continue;
        const { lastRenewedAt, at } = expired.data as { lastRenewedAt: string; at: string };
        const expiry = Date.parse(lastRenewedAt) + o.ttlMs;
        // When the successor could first act: once its worker was running, and not while it (or,
        // on SQLite, any process, which may hold the file's write lock) was stopped.
        const successorPid = (successorAcquired?.data as { pid?: number } | undefined)?.pid;
        const successor = all.find(
          (p) => p.messages.find((m) => m.kind === 'hello')?.pid === successorPid,
        );
        const takenAt = first.recordedAt.getTime();
        const blocking = stops.filter(
          (s) => (s.pid === successorPid || sqlite) && s.from < takenAt && s.to > kill.at,
        );
        const availableAt = Math.max(
          kill.at,
          successor?.readyAt ?? kill.at,
          ...blocking.map((s) => Math.min(s.to, takenAt)),
        );
        takeovers.push({
          latencyMs,
          successorWaitMs: availableAt - kill.at,
          leaseLeftMs: expiry - kill.at,
          detectionMs: Date.parse(at) - expiry,
          expireAppendMs: expired.recordedAt.getTime() - Date.parse(at),
          claimMs: first.recordedAt.getTime() - expired.recordedAt.getTime(),
          successorStartedAfterKill:
            successorAcquired !== undefined && successorAcquired.recordedAt.getTime() > kill.at,
        });
      }
      return {
        results,
        kills,
        paused: stale,
        takeoverLatenciesMs,
        takeovers,
        events,
        journal: await effects.journal(),
        refusals: await effects.refusals(),
        inPlace: await effects.inPlace(),
      };
    } finally {
      await store.close();
      await effects.close();
    }
  } finally {
    if (process.env.OPLEDGER_CHAOS_DUMP) {
      const store = await createStore(o.storeUrl).catch(() => undefined);
      const events = store ? await store.eventStore.readAll().catch(() => []) : [];
      await store?.close().catch(() => undefined);
      writeFileSync(
        process.env.OPLEDGER_CHAOS_DUMP,
        JSON.stringify(
          {
            procs: all.map((p) => ({
              identity: p.identity,
              readyAt: p.readyAt,
              messages: p.messages,
              stderr: p.stderr.slice(-5000),
            })),
            stopsAndKills: dumpInfo,
            events: events.map((e) => ({
              s: e.streamName,
              r: String(e.streamRevision),
              p: String(e.globalPosition),
              t: e.type,
              at: e.recordedAt.getTime(),
              d: e.data,
              m: e.metadata,
            })),
          },
          null,
          0,
        ),
      );
    }
    for (const p of all) {
      p.signal('SIGCONT');
      p.signal('SIGKILL');
    }
  }
};

/** Everything the issue asks of the run. */
export const checkChaos = (o: ChaosOptions, r: ChaosReport): void => {
  // Every operation ended, and every one that failed was rolled back whole.
  expect(r.results).toHaveLength(o.operations);
  for (const result of r.results) {
    expect(['succeeded', 'failed'], result.id).toContain(result.status);
    if (result.status === 'failed') expect(result.rollback, result.id).toBe('succeeded');
  }

  // No two steps of one resource overlapped in time among the writes the table accepted: no
  // accepted write of one operation falls inside another's accepted start..end on its resource.
  const byResource = new Map<string, (Write & { at: number })[]>();
  for (const w of r.journal) {
    byResource.set(w.resource, [...(byResource.get(w.resource) ?? []), w]);
  }
  for (const [resource, writes] of byResource) {
    const intervals: { op: string; from: number; to: number }[] = [];
    for (const start of writes.filter((w) => w.kind === 'start')) {
      const end = writes.find(
        (w) => w.kind === 'end' && w.op === start.op && w.step === start.step && w.at >= start.at,
      );
      if (end) intervals.push({ op: start.op, from: start.at, to: end.at });
    }
    for (const w of writes) {
      const inside = intervals.find((i) => i.op !== w.op && w.at > i.from && w.at < i.to);
      expect(
        inside,
        `${resource}: ${w.kind} of ${w.op}/${w.step} inside a step of ${inside?.op}`,
      ).toBeUndefined();
    }
  }

  // Nothing was appended by a worker after its takeover: no event after an OperationTakenOver
  // carries an older fence than the takeover's.
  const fenceOf = new Map<string, number>();
  for (const e of r.events) {
    if (!e.streamName.startsWith('operation-')) continue;
    const current = fenceOf.get(e.streamName) ?? 0;
    const written = (e.metadata as { fence?: number } | undefined)?.fence;
    if (written !== undefined) {
      expect(written, `${e.streamName}@${e.streamRevision} ${e.type}`).toBeGreaterThanOrEqual(
        current,
      );
    }
    if (e.type === 'OperationClaimed' || e.type === 'OperationTakenOver') {
      fenceOf.set(e.streamName, (e.data as { fence: number }).fence);
    }
  }

  // The paused worker: its late write was refused by its token, and its step's signal aborted.
  const { paused } = r;
  const told = JSON.stringify(
    paused.messages.filter((m) => m.op === paused.op || m.kind === 'log'),
  );
  expect(
    r.refusals.some((w) => w.pid === paused.pid && w.op === paused.op),
    told,
  ).toBe(true);
  expect(paused.messages.some((m) => m.kind === 'aborted' && m.op === paused.op)).toBe(true);

  // Every rolled-back operation's side effects are gone; every succeeded one's are in place.
  const failed = new Set(r.results.filter((x) => x.status === 'failed').map((x) => x.id));
  expect(r.inPlace.filter((e) => failed.has(e.op))).toEqual([]);
  for (const ok of r.results.filter((x) => x.status === 'succeeded')) {
    expect(
      r.inPlace.filter((e) => e.op === ok.id),
      ok.id,
    ).toHaveLength(3);
  }

  // Takeover latency: death to the successor's first event. By design at most ttl + renew (the
  // lease runs out, then a pass of the successor's finds it within a renewal) + 1 s, counted
  // from when a successor could act: a worker running at the kill (most takeovers), else the
  // restarted process once it runs, or the paused one once it is continued (the kill loop may
  // leave no other). What each took is printed in its parts.
  const bound = (t: TakeoverTiming) => Math.max(o.ttlMs, t.successorWaitMs) + o.renewEveryMs + 1000;
  const worst = Math.max(0, ...r.takeoverLatenciesMs);
  console.warn(
    `chaos: ${r.results.length} operations (${failed.size} rolled back), ${r.kills.length} workers killed, the pause taken over at try ${r.paused.attempt}, takeover latency ${r.takeoverLatenciesMs.map((ms) => `${ms} ms`).join(', ') || 'none measured'} (worst ${worst} ms, design bound ${o.ttlMs + o.renewEveryMs + 1000} ms from a running successor)`,
    `\nchaos takeovers (latency = lease left + detection + expire append + claim; bound): ${r.takeovers
      .map(
        (t) =>
          `${t.latencyMs} = ${t.leaseLeftMs} + ${t.detectionMs} + ${t.expireAppendMs} + ${t.claimMs}; ${bound(t)}${t.successorWaitMs > 0 ? ` (no successor could act for ${t.successorWaitMs} ms${t.successorStartedAfterKill ? ', one started after the kill' : ''})` : ''}`,
      )
      .join(' | ')}`,
  );
  expect(r.takeoverLatenciesMs.length).toBeGreaterThan(0);
  expect(r.takeovers).toHaveLength(r.takeoverLatenciesMs.length);
  for (const t of r.takeovers) expect(t.latencyMs, JSON.stringify(t)).toBeLessThanOrEqual(bound(t));
};
