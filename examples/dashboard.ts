// The dashboard's JSON API in a program of your own: your stores, your `authorize`, and the actor
// taken from your own request header. Run it with `npx tsx examples/dashboard.ts` (after
// `npm run build`: it imports the package).
import {
  createEngine,
  createInMemoryEventStore,
  createInMemoryReadStore,
  defineOperation,
  step,
} from 'opledger';
import { createProjector } from 'opledger/projections';

const store = createInMemoryEventStore();
const engine = createEngine({
  store,
  operations: [
    defineOperation({
      type: 'app.restart',
      steps: [step({ name: 'restart', kind: 'no_side_effects', run: () => undefined })],
    }),
  ],
});
for (const environment of ['production', 'staging']) {
  await (
    await engine.start({
      type: 'app.restart',
      environment,
      resource: { type: 'app', handle: 'web' },
      user: 'ada@example.com',
    })
  ).result;
}

// #region serve
import { createDashboardServer } from 'opledger/dashboard';

const readStore = createInMemoryReadStore();
const projector = createProjector({ store, readStore });
await projector.start(); // keeps the read store current: no catchUp needed
const dashboard = createDashboardServer({
  store,
  readStore,
  // Consulted on every request; here only ada may see production.
  authorize: (actor, _action, target) =>
    target.environment !== 'production' || actor === 'ada@example.com',
  // Who asks: behind your own login proxy, say, a header it sets.
  actorOf: (req) => req.headers['x-forwarded-user'],
});
const url = await dashboard.listen(0); // http://127.0.0.1:PORT/, loopback only

const environments = async (user: string) => {
  const answer = await fetch(`${url}api/environments`, { headers: { 'x-forwarded-user': user } });
  return ((await answer.json()) as { name: string }[]).map((e) => e.name);
};
console.log('ada sees', await environments('ada@example.com')); // production, staging
console.log('bob sees', await environments('bob@example.com')); // staging
const denied = await fetch(`${url}api/environments/production/operations`, {
  headers: { 'x-forwarded-user': 'bob@example.com' },
});
console.log(denied.status, await denied.json()); // 403, the same as for an environment that is not
// #endregion serve

await dashboard.close();
await projector.stop();
