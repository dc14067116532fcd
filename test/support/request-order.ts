import { appendFileSync } from 'node:fs';
import { defineOperation, step, type EventStore } from '../../src/index.js';
import { resourceStreamName } from '../../src/domain/stream-names.js';

/**
 * The request order of a resource as the store decided it: operation ids in the order of the
 * ResourceOperationQueued events that gave them their place (a repeat for an id that still
 * has its place is no new place). Read from the store only, so every process gets the same.
 */
export const requestOrder = async (
  store: EventStore,
  environment: string,
  resource: { type: string; handle: string },
): Promise<string[]> => {
  const waiting = new Set<string>();
  const order: string[] = [];
  for (const e of await store.readStream(resourceStreamName(environment, resource))) {
    const { operationId } = e.data as { operationId: string };
    if (e.type === 'ResourceOperationQueued' && !waiting.has(operationId)) {
      waiting.add(operationId);
      order.push(operationId);
    } else if (e.type === 'ResourceOperationFinished') waiting.delete(operationId);
  }
  return order;
};

/**
 * The order in which operations among `ids` ran, from a journal of `start <id>` / `end <id>`
 * lines written by their steps; throws when two of them overlapped.
 */
export const runOrder = (journal: readonly string[], ids: readonly string[]): string[] => {
  const ran: string[] = [];
  let open: string | undefined;
  for (const line of journal) {
    const [what, id] = line.split(' ') as [string, string];
    if (!ids.includes(id)) continue;
    if (what === 'start') {
      if (open !== undefined) throw new Error(`${id} started while ${open} was running`);
      open = id;
      ran.push(id);
    } else if (what === 'end') {
      if (open !== id) throw new Error(`${id} ended while ${open ?? 'nothing'} was running`);
      open = undefined;
    }
  }
  return ran;
};

/**
 * A deploy whose one step writes `start <id>` and `end <id>` to `file` around `ms` of work:
 * whole lines appended by any number of processes, a witness of the run order that does not
 * come from the store.
 */
export const journalledDeploy = (file: string, ms: number) =>
  defineOperation({
    type: 'deploy',
    steps: [
      step({
        name: 'work',
        run: async ({ operationId }) => {
          appendFileSync(file, `start ${operationId}\n`);
          await new Promise((resolve) => setTimeout(resolve, ms));
          appendFileSync(file, `end ${operationId}\n`);
        },
        undo: () => undefined,
      }),
    ],
  });
