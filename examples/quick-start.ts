// The README's example, runnable: a deploy whose health check fails, rolled back from its events.
// Run it with `npx tsx examples/quick-start.ts` (after `npm run build`: it imports the package).

// A toy world for the steps to change.
const world = { schema: 1, running: ['web:v1'] };
const migrate = () => void (world.schema += 1);
const start = (image: string) => (world.running.push(image), { image });
const stop = (output: { image: string } | undefined) => {
  world.running = world.running.filter((i) => i !== output?.image);
};
const check = () => {
  throw new Error('GET /healthcheck answered 503');
};

// #region readme
import { createEngine, createInMemoryEventStore, defineOperation, step } from 'opledger';

const deploy = defineOperation<{ image: string }>({
  type: 'deploy',
  steps: [
    step({ name: 'migrate', kind: 'irreversible', run: () => migrate() }),
    step({
      name: 'start',
      run: ({ params }) => start(params.image),
      undo: ({ output }) => stop(output),
    }),
    step({
      name: 'health check',
      kind: 'no_side_effects',
      retry: { maxAttempts: 3, initialIntervalMs: 10 },
      run: () => check(),
    }),
  ],
});
const engine = createEngine({ store: createInMemoryEventStore(), operations: [deploy] });
const op = await engine.start({
  type: 'deploy',
  environment: 'production',
  resource: { type: 'app', handle: 'web' },
  user: 'ada@example.com',
  params: { image: 'web:v2' },
});
op.logs.subscribe((line) => console.log(line.message));
console.log((await op.result).summary); // names the failed step, its causes and the rollback verdict
// #endregion readme

console.log(`world after rollback: ${JSON.stringify(world)}`);
