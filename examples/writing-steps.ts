// A step with every option, on a registry that fails: retries, failover, a non-retryable error,
// cancellation through the signal, and what undo receives.
// Run it with `npx tsx examples/writing-steps.ts` (after `npm run build`).
import { createEngine, createInMemoryEventStore, defineOperation } from 'opledger';
import { createVirtualClock } from 'opledger/testing';

class Unauthorized extends Error {
  override name = 'Unauthorized';
}
const pulled: string[] = [];
/** docker-hub answers 503 once, then refuses our credentials; quay works. */
let dockerHubCalls = 0;
const registry = {
  pull: async (image: string, from: string, _options: { signal: AbortSignal }) => {
    if (from === 'docker-hub') {
      dockerHubCalls += 1;
      throw dockerHubCalls < 2 ? new Error('503 Service Unavailable') : new Unauthorized('401');
    }
    pulled.push(`${image}@${from}`);
  },
  remove: async (image: string, from: string) => {
    const at = pulled.indexOf(`${image}@${from}`);
    if (at >= 0) pulled.splice(at, 1); // idempotent: removing twice is fine
  },
};

// #region step
import { step } from 'opledger';

const pullImage = step<{ image: string }>()({
  name: 'pull image',
  kind: 'undoable', // the default when there is an undo; or 'irreversible' | 'no_side_effects'
  alternatives: ['docker-hub', 'quay'], // failover providers, tried in turn
  retry: {
    maxAttempts: 3,
    initialIntervalMs: 1_000,
    backoffCoefficient: 2,
    maximumIntervalMs: 60_000,
    nonRetryable: ['Unauthorized'], // by error name or code: go to the next provider at once
  },
  run: async ({ params, provider, signal, log }) => {
    const from = provider ?? 'docker-hub';
    await registry.pull(params.image, from, { signal }); // honour the signal to stop early
    log(`pulled ${params.image} from ${from}`);
    return { image: params.image, registry: from }; // plain JSON: what undo gets as `output`
  },
  undo: async ({ output, params, log }) => {
    // After a crash the outcome is 'unknown' and there is no output: undo anyway, idempotently.
    for (const from of output ? [output.registry] : ['docker-hub', 'quay']) {
      await registry.remove(params.image, from);
    }
    log(`removed ${params.image}`);
  },
});
// #endregion step

const failing = step({
  name: 'health check',
  kind: 'no_side_effects',
  run: () => {
    throw new Error('unhealthy');
  },
});
const clock = createVirtualClock();
const engine = createEngine({
  store: createInMemoryEventStore(),
  operations: [defineOperation({ type: 'deploy', steps: [pullImage, failing] })],
  clock,
});
const op = await engine.start({
  type: 'deploy',
  environment: 'production',
  resource: { type: 'app', handle: 'web' },
  user: 'ada@example.com',
  params: { image: 'web:v2' },
});
op.logs.subscribe((line) => console.log(`${line.level.padEnd(5)} ${line.message}`));
const result = await op.result;
console.log(`backoff slept on the virtual clock: ${JSON.stringify(clock.sleeps)}`);
console.log(`images left after the rollback: ${JSON.stringify(pulled)}`);
if (result.rollback !== 'succeeded' || pulled.length !== 0) process.exit(1);

// #region typed
import { z } from 'zod';

const running: string[] = [];
const deploy = defineOperation({
  type: 'deploy',
  params: z.object({ image: z.string(), replicas: z.number().default(1) }),
  steps: [
    step({
      name: 'start containers',
      // params: { image: string; replicas: number }, inferred from the schema
      run: ({ params }) => {
        const ids = Array.from({ length: params.replicas }, (_, i) => `${params.image}#${i}`);
        running.push(...ids);
        return { ids };
      },
      // output: { ids: string[] } | undefined, inferred from the run
      undo: ({ output }) => {
        for (const id of output?.ids ?? []) running.splice(running.indexOf(id), 1);
      },
    }),
  ],
});
const typed = createEngine({ store: createInMemoryEventStore(), operations: [deploy] });
const started = await typed.start({
  type: 'deploy', // 'deplyo', or params: { image: 2 }, would not compile
  environment: 'production',
  resource: { type: 'app', handle: 'web' },
  user: 'ada@example.com',
  params: { image: 'web:v2', replicas: 2 },
});
// #endregion typed
console.log(`typed deploy: ${(await started.result).status}, running ${JSON.stringify(running)}`);

// #region timeouts
const files = ['a.tar', 'b.tar', 'c.tar'];
let connectionDrops = 1; // the first attempt's connection hangs on c.tar
const copyFiles = step({
  name: 'copy files',
  kind: 'no_side_effects',
  timeoutMs: 60_000, // the whole attempt, as Temporal's startToCloseTimeout
  heartbeatTimeoutMs: 5_000, // the longest silence between heartbeats, as its heartbeatTimeout
  retry: { maxAttempts: 2 },
  run: async ({ heartbeat, heartbeatDetails, signal, log }) => {
    // A retry gets the last heartbeat's details of the attempt before it: it resumes there.
    const from = (heartbeatDetails as { copied: number } | undefined)?.copied ?? 0;
    for (let i = from; i < files.length; i++) {
      if (i === 2 && connectionDrops-- > 0) {
        await clock.sleep(30_000); // hangs, deaf to its signal: the engine gives up at 5 s
        return { copied: i }; // too late: ignored
      }
      await clock.sleep(1_000, signal); // copies one file; stops if the signal aborts
      heartbeat({ copied: i + 1 });
      log(`copied ${files[i]}`);
    }
    return { copied: files.length };
  },
});
// #endregion timeouts

const copier = createEngine({
  store: createInMemoryEventStore(),
  operations: [defineOperation({ type: 'copy', steps: [copyFiles] })],
  clock,
});
const copy = await copier.start({
  type: 'copy',
  environment: 'production',
  resource: { type: 'app', handle: 'web' },
  user: 'ada@example.com',
  params: {},
});
copy.logs.subscribe((line) => console.log(`${line.level.padEnd(5)} ${line.message}`));
const copied = await copy.result;
console.log(`copy files: ${copied.status}`);
if (copied.status !== 'succeeded') process.exit(1);
