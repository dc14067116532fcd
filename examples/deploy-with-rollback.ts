// A deploy whose release health check fails: opledger rolls back what the deploy changed, in
// reverse order, reports the migration it could not undo, and ends the log with its verdict.
// Run it with `npm run example`.
import { createEngine, createInMemoryEventStore, defineOperation, step } from 'opledger';

// The "world" the steps act on: which release serves traffic and what the database schema is.
const world = { serving: 'v1', containers: ['web-v1'], schema: 1 };

const deploy = defineOperation<{ image: string }>({
  type: 'deploy',
  steps: [
    step({
      name: 'before_release',
      kind: 'irreversible', // a database migration: it cannot be rolled back
      run: ({ log }) => {
        world.schema += 1;
        log(`migrated the schema to version ${world.schema}`);
      },
    }),
    step({
      name: 'pull image',
      kind: 'no_side_effects',
      alternatives: ['docker.io', 'quay.io'],
      run: ({ provider, params, log }) => {
        if (provider === 'docker.io') throw new Error('docker.io: 503 Service Unavailable');
        log(`pulled ${params.image} from ${provider}`);
      },
    }),
    step({
      name: 'start containers',
      run: ({ params }) => {
        const name = `web-${params.image}`;
        world.containers.push(name);
        return { container: name };
      },
      undo: ({ output }) => {
        world.containers = world.containers.filter((c) => c !== output?.container);
      },
    }),
    step({
      name: 'health check',
      kind: 'no_side_effects',
      retry: { maxAttempts: 3, initialIntervalMs: 10 },
      run: () => {
        throw new Error('GET /healthcheck answered 503');
      },
    }),
    step({
      name: 'switch traffic',
      run: ({ params }) => {
        const previous = world.serving;
        world.serving = params.image;
        return { previous };
      },
      undo: ({ output }) => {
        world.serving = output?.previous ?? world.serving;
      },
    }),
  ],
});

const engine = createEngine({ store: createInMemoryEventStore(), operations: [deploy] });

const operation = await engine.start({
  type: 'deploy',
  environment: 'production',
  resource: { type: 'app', handle: 'web' },
  user: 'ada@example.com',
  params: { image: 'v2' },
});

operation.logs.subscribe((line) =>
  console.log(`${line.at}  ${line.level.padEnd(5)}  ${line.message}`),
);
const result = await operation.result;

console.log('');
console.log(result.summary);
console.log(`world after rollback: ${JSON.stringify(world)}`);
if (result.rollback !== 'failed' || result.notUndone[0]?.step !== 'before_release') process.exit(1);
