import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemoryEventStore } from '../../src/adapters/memory/index.js';
import { createSqliteEventStore } from '../../src/adapters/sqlite/index.js';
import type { EventStore } from '../../src/domain/event-store.js';
import { defineOperation } from '../../src/domain/operation-definition.js';
import type { StepContext } from '../../src/domain/step.js';
import { createEngine } from '../../src/engine/engine.js';
import { NOOP_STEPS } from '../lib/engine-appends.js';
import { forceGc, inRunOrder, type Recorder } from '../lib/measure.js';
import { percentile } from '../lib/stats.js';

export interface EngineSizes {
  operations: number;
  /** Operations in flight at once in the concurrent phase. */
  inFlight: number;
}

export interface EngineOptions {
  run: number;
  sizes: EngineSizes;
  warmup: EngineSizes;
}

const noop = () => undefined;

const noopOperation = defineOperation({ type: 'noop', steps: NOOP_STEPS });

type Contestant = 'direct calls' | 'engine, memory' | 'engine, sqlite';

interface Harness {
  runOne(i: number, lane: number): Promise<void>;
  close(): Promise<void>;
}

/** The same step functions called one after the other, with a context like the engine's. */
const direct = (): Harness => {
  const controller = new AbortController();
  return {
    async runOne(i) {
      const outputs: Record<string, unknown> = {};
      for (const s of noopOperation.steps) {
        const ctx: StepContext<Record<string, unknown>> = {
          operationId: `op-${i}`,
          params: {},
          signal: controller.signal,
          log: noop,
          attempt: 1,
          provider: undefined,
          outputs,
          heartbeat: noop,
          heartbeatDetails: undefined,
          fence: 0,
        };
        outputs[s.name] = await s.run(ctx);
      }
    },
    close: async () => {},
  };
};

const onEngine = (store: EventStore, cleanup: () => void): Harness => {
  const engine = createEngine({ store, operations: [noopOperation] });
  return {
    async runOne(i, lane) {
      const op = await engine.start({
        type: 'noop',
        environment: 'bench',
        // One resource per lane: operations in flight never queue behind each other.
        resource: { type: 'app', handle: `app-${lane}` },
        user: 'bench@example.com',
        params: { n: i },
      });
      const result = await op.result;
      if (result.status !== 'succeeded') throw new Error(result.summary);
    },
    async close() {
      await engine.shutdown();
      await store.close();
      cleanup();
    },
  };
};

const open = (contestant: Contestant): Harness => {
  switch (contestant) {
    case 'direct calls':
      return direct();
    case 'engine, memory':
      return onEngine(createInMemoryEventStore(), () => {});
    case 'engine, sqlite': {
      const folder = mkdtempSync(join(tmpdir(), 'opledger-bench-engine-'));
      const store = createSqliteEventStore({
        path: join(folder, 'events.db'),
        synchronous: 'normal',
      });
      return onEngine(store, () => rmSync(folder, { recursive: true, force: true }));
    }
  }
};

/** Runs `count` operations, `inFlight` at a time; returns the latency of each (ms) and the total (s). */
const drive = async (h: Harness, count: number, inFlight: number) => {
  const latencies: number[] = [];
  let next = 0;
  const lane = async (l: number) => {
    for (let i = next++; i < count; i = next++) {
      const started = performance.now();
      await h.runOne(i, l);
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, (_, l) => lane(l)));
  return { latencies, seconds: (performance.now() - started) / 1000 };
};

/**
 * Workload 2: `operations` five-step no-op operations through the engine on memory and SQLite,
 * one at a time (latency) and `inFlight` at a time (throughput), against calling the same step
 * functions directly.
 */
export const runEngine = async (o: EngineOptions, rec: Recorder): Promise<void> => {
  const contestants: Contestant[] = ['direct calls', 'engine, memory', 'engine, sqlite'];
  for (const c of contestants) {
    const h = open(c);
    await drive(h, o.warmup.operations, 1);
    await drive(h, o.warmup.operations, o.warmup.inFlight);
    await h.close();
  }
  const phases = [
    { table: 'engine-sequential', inFlight: 1 },
    { table: 'engine-concurrent', inFlight: o.sizes.inFlight },
  ];
  for (const [index, phase] of phases.entries()) {
    const perOp: Partial<Record<Contestant, number>> = {};
    for (const c of inRunOrder(contestants, o.run + index)) {
      const h = open(c);
      forceGc();
      const cpuBefore = process.cpuUsage();
      const { latencies, seconds } = await drive(h, o.sizes.operations, phase.inFlight);
      const cpu = process.cpuUsage(cpuBefore);
      await h.close();
      // CPU time beside wall-clock: on a shared machine it says what an operation itself costs.
      rec.set(
        phase.table,
        c,
        'CPU per operation',
        (cpu.user + cpu.system) / o.sizes.operations,
        'µs',
      );
      rec.set(phase.table, c, 'operations/s', o.sizes.operations / seconds, 'ops/s');
      rec.set(phase.table, c, 'p50 latency', percentile(latencies, 50), 'ms');
      rec.set(phase.table, c, 'p99 latency', percentile(latencies, 99), 'ms');
      perOp[c] = (seconds * 1e6) / o.sizes.operations;
    }
    const baseline = perOp['direct calls']!;
    for (const c of ['engine, memory', 'engine, sqlite'] as const) {
      rec.set(phase.table, c, 'overhead per operation', perOp[c]! - baseline, 'µs');
    }
  }
};
