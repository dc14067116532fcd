// Operation Logs and an Activity Report from the projections, over an operation on an App that
// has been deleted since. Run it with `npx tsx examples/activity-report.ts` (after `npm run build`).
import { createEngine, createInMemoryEventStore, defineOperation, step } from 'opledger';

const store = createInMemoryEventStore();
const engine = createEngine({
  store,
  operations: [
    defineOperation({
      type: 'app.provision',
      lifecycle: 'provision',
      steps: [step({ name: 'create', kind: 'no_side_effects', run: () => undefined })],
    }),
    defineOperation({
      type: 'app.deprovision',
      lifecycle: 'deprovision',
      steps: [step({ name: 'delete', kind: 'no_side_effects', run: () => undefined })],
    }),
  ],
});
const run = async (type: string) =>
  (
    await engine.start({
      type,
      environment: 'production',
      resource: { type: 'app', handle: 'web' },
      user: 'ada@example.com',
    })
  ).result;
const provisioned = await run('app.provision');
await run('app.deprovision');

// #region reads
import { createInMemoryReadStore } from 'opledger';
import { createProjector, createReadModel, isoWeekOf } from 'opledger/projections';

const readStore = createInMemoryReadStore();
const projector = createProjector({ store, readStore });
await projector.start(); // catch-up, then live, until projector.stop()
// Who may read what: this program (no actor) and ada read everything, others single operations.
const reads = createReadModel({
  readStore,
  authorize: (actor, action) =>
    actor === undefined || actor === 'ada@example.com' || action === 'operation:read',
});

console.log(await reads.logText(provisioned.id)); // ends with the verdict, if there was a rollback
const csv = await reads.activityReportCsv('production', { week: isoWeekOf(new Date()) });
csv.pipe(process.stdout); // RFC 4180, streamed: flat memory however many rows
// #endregion reads

await new Promise((resolve) => csv.on('end', resolve));
await projector.stop();
