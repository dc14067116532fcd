/**
 * The floor of a rebuild (issue 17, "Rebuild, round 4" in NOTES.md): what reading the store's
 * events in pages, decoding them, folding each operation and writing the read models into the
 * read store costs with nothing else around it, beside the projector's rebuild of the same
 * store. The difference is what the projector spends beyond the work itself.
 *
 *   npx tsx bench/rebuild-floor.ts '{"mode":"floor","store":"memory","events":100000}'
 *   npx tsx bench/rebuild-floor.ts '{"mode":"projector","store":"memory","events":100000,"profile":"/tmp/p.cpuprofile"}'
 *
 * Prints one JSON line: events/s and CPU per event (process.cpuUsage around the rebuild), and
 * with `profile` the top self-time functions of a CPU profile taken around it alone.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createEventDecoder } from '../src/domain/event-codec.js';
import type { OperationEvent } from '../src/domain/events.js';
import { toLogLine, type LogLine } from '../src/domain/log-lines.js';
import { createOperationFold, type OperationFold } from '../src/domain/operation.js';
import { ENVIRONMENT_RESOURCE, operationIdOfStream } from '../src/domain/stream-names.js';
import { decodeOperationEvent } from '../src/engine/operation-stream.js';
import { createProjector, OPERATIONS_PROJECTION } from '../src/projections/projector.js';
import { operationRecord } from '../src/projections/read-model-batch.js';
import type { EnvironmentRecord, ResourceRecord } from '../src/projections/read-store.js';
import { fixture, type Fixture } from './workloads/projections.js';

interface Task {
  mode: 'floor' | 'projector';
  store: 'memory' | 'sqlite';
  events: number;
  page?: number;
  profile?: string;
  /** Rebuilds in the one process (the first warms it up): CPU per event of each, min, median. */
  repeat?: number;
}

/**
 * The least a rebuild must do: every event read from the store, decoded and validated, folded
 * into its operation's state; at the end of each page, in one read-store transaction with the
 * checkpoint, each operation's record once, its log lines, its resource and environment. No
 * purges, skips, idempotence checks or awaited reads per event: the bench's store has none.
 */
const floor = async (f: Fixture, page: number): Promise<bigint> => {
  const decode = createEventDecoder();
  await f.readStore.reset(OPERATIONS_PROJECTION);
  const head = await f.store.headPosition();
  const folds = new Map<string, { fold: OperationFold; revision: number }>();
  const environments = new Map<string, EnvironmentRecord>();
  let after = 0n;
  while (after < head) {
    const events = await f.store.readAll({ after, maxCount: page });
    if (events.length === 0) break;
    const last = events[events.length - 1]!.globalPosition;
    await f.readStore.transaction(OPERATIONS_PROJECTION, last, async (tx) => {
      const touched = new Map<string, { fold: OperationFold; revision: number }>();
      const lines: LogLine[] = [];
      const resources: ResourceRecord[] = [];
      for (const recorded of events) {
        const id = operationIdOfStream(recorded.streamName);
        if (id === undefined) continue;
        const event: OperationEvent = decodeOperationEvent(decode, recorded);
        const revision = Number(recorded.streamRevision);
        let entry = folds.get(id);
        if (!entry) {
          entry = { fold: createOperationFold(), revision };
          folds.set(id, entry);
        }
        entry.fold.apply(event);
        entry.revision = revision;
        touched.set(id, entry);
        const line = toLogLine(id, revision, event);
        if (line) lines.push(line);
        if (event.type === 'OperationRequested') {
          const { environment, resource, createdAt } = event.data;
          if (!environments.has(environment))
            environments.set(environment, {
              environment,
              status: 'active',
              firstOperationAt: createdAt,
            });
          if (resource.type !== ENVIRONMENT_RESOURCE)
            resources.push({
              environment,
              type: resource.type,
              handle: resource.handle,
              status: 'provisioned',
              lastOperationId: id,
              lastOperationType: event.data.type,
              lastOperationAt: createdAt,
            });
        }
      }
      for (const [id, { fold, revision }] of touched)
        await tx.putOperation(operationRecord(id, revision, fold.state()));
      for (const line of lines) await tx.putLogLine(line);
      for (const r of resources) await tx.putResource(r);
      for (const env of environments.values()) await tx.putEnvironment(env);
    });
    after = last;
  }
  return after;
};

/** Self time by function (name and file), the top rows, as shares of the profile. */
const summarise = (profile: {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }>;
}) => {
  const byName = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.split('/').slice(-2).join('/');
    const key = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    byName.set(key, (byName.get(key) ?? 0) + hits);
  }
  return [...byName]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 40)
    .map(([key, hits]) => `${((100 * hits) / total).toFixed(1).padStart(5)}% ${key}`);
};

const main = async () => {
  const task = JSON.parse(process.argv[2] ?? '{}') as Task;
  const f = await fixture({ store: task.store, run: 1, sizes: { events: task.events } });
  try {
    const session = task.profile ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
    }
    const projector = createProjector({
      store: f.store,
      readStore: f.readStore,
      ...(task.page ? { batchSize: task.page } : {}),
    });
    const runs: number[] = [];
    let seconds = 0;
    let position = 0n;
    for (let run = 0; run < (task.repeat ?? 1); run++) {
      const started = performance.now();
      const before = process.cpuUsage();
      position =
        task.mode === 'floor' ? await floor(f, task.page ?? 500) : await projector.rebuild();
      const cpu = process.cpuUsage(before);
      seconds = (performance.now() - started) / 1000;
      runs.push((cpu.user + cpu.system) / task.events);
    }
    const sorted = [...runs].sort((a, b) => a - b);
    let top: string[] | undefined;
    if (session && task.profile) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(task.profile, JSON.stringify(profile));
      top = summarise(profile as Parameters<typeof summarise>[0]);
    }
    if (position !== BigInt(task.events)) throw new Error(`rebuilt up to ${position}`);
    const operation = await f.readStore.operation('op-00000009');
    process.stdout.write(
      JSON.stringify({
        ...task,
        eventsPerSecond: Math.round(task.events / seconds),
        cpuPerEvent: runs[runs.length - 1],
        ...(runs.length > 1
          ? {
              cpuMin: sorted[0],
              cpuMedian: sorted[Math.floor(sorted.length / 2)],
              runs: runs.map((r) => Number(r.toFixed(2))),
            }
          : {}),
        lastStatus: operation?.state.status,
      }) + '\n',
    );
    if (top) process.stdout.write(`${top.join('\n')}\n`);
  } finally {
    await f.close();
  }
};

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
