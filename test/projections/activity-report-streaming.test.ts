import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createInMemoryReadStore, type ReadStore } from '../../src/index.js';
import { createReadModel, type OperationRecord } from '../../src/projections/index.js';
import { foldOperation } from '../../src/domain/index.js';

const ROWS = 100_000;
const reason = 'x'.repeat(1_000); // ~1 KB a row: the whole report would be over 100 MB

const template = foldOperation([
  {
    type: 'OperationRequested',
    data: {
      operationId: 'template',
      type: 'deploy',
      environment: 'production',
      resource: { type: 'app', handle: 'web' },
      user: 'ada@example.com',
      params: {},
      createdAt: '2026-03-02T09:00:00.000Z',
      steps: [{ name: 'start', kind: 'undoable' }],
    },
  },
  { type: 'OperationStarted', data: { at: '2026-03-02T09:00:01.000Z' } },
  {
    type: 'OperationFailed',
    data: {
      reason: 'failure',
      failedStep: 'start',
      error: { name: 'Error', message: reason, causes: [] },
      rollbackRequired: false,
      at: '2026-03-02T09:00:02.000Z',
    },
  },
]);

describe('activity report CSV streaming', () => {
  it('streams 100,000 rows: the first bytes flow before the last row is read, and memory stays flat', async () => {
    let yielded = 0;
    const base = createInMemoryReadStore();
    // A read store whose rows are generated on demand, so only the CSV path can hold memory.
    const readStore: ReadStore = {
      ...base,
      environment: async () => ({
        environment: 'production',
        status: 'active',
        firstOperationAt: '2026-03-02T09:00:00.000Z',
      }),
      resources: async () => [],
      async *operationsCreatedBetween(): AsyncIterable<OperationRecord> {
        for (let i = 0; i < ROWS; i++) {
          yielded++;
          const id = `op-${String(i).padStart(6, '0')}`;
          yield {
            id,
            environment: 'production',
            resourceType: 'app',
            resourceHandle: 'web',
            type: 'deploy',
            status: 'failed',
            createdAt: template.createdAt,
            lastRevision: 2,
            state: { ...template, id },
          };
        }
      },
    };
    const reads = createReadModel({ readStore });
    const csv = await reads.activityReportCsv('production', { week: '2026-W10' });

    let yieldedAtFirstChunk = -1;
    let bytes = 0;
    let newlines = 0;
    let tail = '';
    const baseline = process.memoryUsage().heapUsed;
    let peak = 0;
    let chunks = 0;
    await pipeline(
      csv,
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          if (yieldedAtFirstChunk < 0) yieldedAtFirstChunk = yielded;
          bytes += chunk.length;
          const text = chunk.toString();
          for (const ch of text) if (ch === '\n') newlines++;
          tail = (tail + text).slice(-3000);
          if (++chunks % 200 === 0)
            peak = Math.max(peak, process.memoryUsage().heapUsed - baseline);
          done();
        },
      }),
    );
    expect(yielded).toBe(ROWS);
    expect(yieldedAtFirstChunk).toBeGreaterThan(0);
    expect(yieldedAtFirstChunk).toBeLessThan(ROWS / 10);
    expect(newlines).toBe(ROWS + 1);
    expect(bytes).toBeGreaterThan(100 * 1024 * 1024);
    expect(tail).toMatch(
      /\r\nop-099999,production,app,web,false,deploy,failed,none,false,ada@example.com,/,
    );
    // Holding the report would take over 100 MB; streaming keeps the heap well under half that.
    expect(peak).toBeLessThan(50 * 1024 * 1024);
  });
});
