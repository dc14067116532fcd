/**
 * One new process of workload 5 (bench/workloads/long-history.ts): opens the store at the URL
 * it is given, creates an engine, and times its first operation on the resource with the long
 * history (start() to result), the figure issue 22 is about. Opening the store and importing
 * the code are not timed: they do not depend on the history. Prints the milliseconds as one
 * JSON line after RESULT_MARKER.
 */
import { createStore } from '../src/adapters/create-store.js';
import { RESULT_MARKER } from './lib/protocol.js';
import { timeFirstOperation } from './workloads/long-history.js';

const main = async () => {
  const url = process.argv[2];
  if (!url) throw new Error('usage: first-operation.ts <store url>');
  const stores = await createStore(url);
  try {
    const ms = await timeFirstOperation(stores.eventStore);
    process.stdout.write(`${RESULT_MARKER}${JSON.stringify({ ms })}\n`);
  } finally {
    await stores.close();
  }
};

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
