import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { checkChaos, runChaos, type ChaosOptions } from '../support/chaos.js';

const dir = mkdtempSync(join(tmpdir(), 'opledger-sqlite-chaos-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Bounded for CI; `npm run chaos` runs the longer one (scripts/chaos.mjs).
const scale = Number(process.env.OPLEDGER_CHAOS_SCALE ?? 1);

describe('workers in processes sharing one SQLite file, killed and paused', () => {
  it(
    'every operation ends, no two steps of a resource overlap, a stale worker is fenced off, takeovers are prompt',
    async () => {
      const options: ChaosOptions = {
        storeUrl: `sqlite:${join(dir, 'chaos.db')}`,
        effects: join(dir, 'effects.db'),
        workers: 2,
        operations: 100 * scale,
        resources: 10,
        ttlMs: 1_500,
        renewEveryMs: 500,
        concurrency: 8,
        killEveryMs: 2_000,
        deadlineMs: Number(process.env.OPLEDGER_CHAOS_DEADLINE_MS ?? 120_000 * scale),
        seed: 7,
      };
      checkChaos(options, await runChaos(options));
    },
    180_000 * scale,
  );
});
