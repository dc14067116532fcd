/**
 * One run of one workload, in a process of its own so that peak RSS and heap state belong to
 * that run alone. Started by run.ts; prints its report as one JSON line after RESULT_MARKER.
 */
import { createReport } from './lib/measure.js';
import { RESULT_MARKER, type ChildTask } from './lib/protocol.js';
import { runAppends } from './workloads/appends.js';
import { runEngine } from './workloads/engine.js';
import { runLiveDelivery } from './workloads/live-delivery.js';
import { runLongHistory } from './workloads/long-history.js';
import { runProjections } from './workloads/projections.js';

const main = async () => {
  const task = JSON.parse(process.argv[2] ?? '') as ChildTask;
  const rec = createReport();
  switch (task.workload) {
    case 'appends':
      await runAppends(task.options, rec);
      break;
    case 'engine':
      await runEngine(task.options, rec);
      break;
    case 'projections':
      await runProjections(task.options, rec);
      break;
    case 'live-delivery':
      await runLiveDelivery(task.options, rec);
      break;
    case 'long-history':
      await runLongHistory(task.options, rec);
      break;
  }
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(rec.report)}\n`);
};

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
