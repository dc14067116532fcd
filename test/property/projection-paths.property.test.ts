import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEventDecoder } from '../../src/domain/index.js';
import { createInMemoryReadStore, type ReadStore, type RecordedEvent } from '../../src/index.js';
import { OPERATIONS_PROJECTION } from '../../src/projections/index.js';
import {
  projectOperationEvent,
  projectOperationEventInBatch,
} from '../../src/projections/project-operation-event.js';
import { createReadModelBatch } from '../../src/projections/read-model-batch.js';
import type { ReadModelTransaction } from '../../src/projections/read-store.js';
import { commandArb, ENVS, runCommands, type Command } from '../support/projection-commands.js';
import { projectionSetup } from '../support/projections.js';
import { dumpReadStore } from '../support/read-store-dump.js';

// The projector's batch applies an event without a promise when its store answers at once
// (`tx.now`: memory, SQLite), by a path of its own (requestInBatch and the endings in
// project-operation-event.ts). Whatever the order of the events (redelivered, out of order,
// an ending before its request, a request after its environment's purge), it must leave the
// same read models as the general path, one awaited event at a time, and as the batch on a
// store without `now` (PostgreSQL's case).

const decode = createEventDecoder();

/** The events a real engine records for the commands, in the store's order. */
const history = async (commands: readonly Command[]): Promise<RecordedEvent[]> => {
  const s = projectionSetup();
  await runCommands(s, commands);
  return s.store.readAll();
};

type Path = 'general' | 'batch, answered at once' | 'batch, awaited';

/** The transaction as a store without `now` gives it. */
const withoutNow = (tx: ReadModelTransaction): ReadModelTransaction => {
  const { now: _now, ...rest } = tx;
  return rest;
};

const project = async (events: readonly RecordedEvent[], path: Path, batchSize: number) => {
  const readStore: ReadStore = createInMemoryReadStore();
  for (let i = 0; i < events.length; i += batchSize) {
    const chunk = events.slice(i, i + batchSize);
    await readStore.transaction(OPERATIONS_PROJECTION, 0n, async (tx) => {
      if (path === 'general') {
        for (const event of chunk) await projectOperationEvent(tx, event, decode);
        return;
      }
      expect(tx.now).toBeDefined();
      const batch = createReadModelBatch(path === 'batch, awaited' ? withoutNow(tx) : tx);
      for (const event of chunk) {
        const pending = projectOperationEventInBatch(batch, event, decode);
        if (pending) await pending;
      }
      await batch.flush();
    });
  }
  return dumpReadStore(readStore, ENVS);
};

describe('the batch answered at once and the general path (fast-check)', () => {
  it('leave the same read models for any sequence of recorded events and any batch size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 10 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 60 }),
        fc.integer({ min: 1, max: 12 }),
        async (commands, inOrderFirst, picks, batchSize) => {
          const all = await history(commands);
          if (all.length === 0) return;
          const events = [...(inOrderFirst ? all : []), ...picks.map((p) => all[p % all.length]!)];
          const general = await project(events, 'general', batchSize);
          expect(await project(events, 'batch, answered at once', batchSize)).toEqual(general);
          expect(await project(events, 'batch, awaited', batchSize)).toEqual(general);
        },
      ),
      { numRuns: 120 },
    );
  });
});
