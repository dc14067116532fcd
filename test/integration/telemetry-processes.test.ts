import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteEventStore } from '../../src/adapters/sqlite/index.js';
import { createClient, defineOperation, step } from '../../src/index.js';
import { createRecordingTelemetry, sumWhere } from '../support/telemetry.js';

const root = join(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const workerScript = join(import.meta.dirname, 'fixtures', 'telemetry-worker.ts');

interface SpanLine {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
  events: string[];
}

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('telemetry across processes', () => {
  it('a trace started in this process continues in the worker process that runs the operation', async () => {
    dir = await mkdtemp(join(tmpdir(), 'opledger-otel-'));
    const path = join(dir, 'store.db');
    const store = createSqliteEventStore({ path });
    const t = createRecordingTelemetry();
    const client = createClient({
      store,
      operations: [
        // The client plans the steps; the worker, in the other process, runs them.
        defineOperation({
          type: 'deploy',
          steps: [
            step({ name: 'pull', kind: 'no_side_effects', run: () => undefined }),
            step({ name: 'start', run: () => undefined, undo: () => undefined }),
          ],
        }),
      ],
      telemetry: t.options,
    });
    const httpRequest = t.options.tracer.startSpan('POST /deploys');
    const handle = await client.start({
      type: 'deploy',
      environment: 'production',
      resource: { type: 'app', handle: 'web' },
      user: 'ada@example.com',
      traceContext: trace.setSpan(ROOT_CONTEXT, httpRequest),
    });
    expect(sumWhere(await t.metric('opledger.operations.queued'))).toBe(1);

    const child = spawn(tsx, [workerScript, path], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect((await handle.result).status).toBe('succeeded');

    const { spans, leases, leasesAfter } = JSON.parse(stdout) as {
      spans: SpanLine[];
      leases: number;
      leasesAfter: number;
    };
    const run = spans.find((s) => s.name === 'opledger deploy')!;
    const requested = httpRequest.spanContext();
    expect(run.traceId).toBe(requested.traceId);
    expect(run.parentSpanId).toBe(requested.spanId);
    expect(run.attributes).toMatchObject({
      'opledger.operation.id': handle.id,
      'opledger.outcome': 'succeeded',
      'opledger.rollback': 'none',
    });
    expect(run.events).toEqual(['opledger.claimed', 'opledger.started', 'opledger.succeeded']);
    expect(
      spans
        .filter((s) => s.parentSpanId === run.spanId)
        .map((s) => [s.name, s.traceId, s.events])
        .sort(),
    ).toEqual([
      ['step pull', requested.traceId, []],
      ['step start', requested.traceId, ['log']],
    ]);
    // The worker held one lease while it ran, none once it had shut down.
    expect([leases, leasesAfter]).toEqual([1, 0]);
    await store.close();
  }, 60_000);
});
