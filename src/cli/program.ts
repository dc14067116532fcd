import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_STORE_URL } from '../adapters/create-store.js';
import { CliError, EXIT_OK, toCliError } from './cli-error.js';
import { opledgerCommand, println, type CliIo } from './cli-io.js';
import { FAULT_FORMS } from './cli-input.js';
import {
  activityReportCommand,
  activityReportsCommand,
  type ActivityReportOptions,
} from './commands/activity-reports.js';
import { rebuildCommand, skipCommand, type SkipOptions } from './commands/projections.js';
import {
  dashboardCommand,
  DEFAULT_DASHBOARD_PORT,
  type DashboardCommandOptions,
} from './commands/dashboard.js';
import { DEFAULT_DEMO_SPEED, demoCommand, type DemoOptions } from './commands/demo.js';
import {
  operationCancelCommand,
  operationFollowCommand,
  operationLogsCommand,
  type CancelOptions,
} from './commands/operation.js';
import { metricsCommand, type MetricsOptions } from './commands/metrics.js';
import { operationsCommand, type OperationsOptions } from './commands/operations.js';
import { DEFAULT_RUN_SPEED, runCommand, type RunOptions } from './commands/run.js';
import type { GlobalOptions } from './commands/with-store.js';
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_GRACE_MS,
  OPERATIONS_MODULE_FORMS,
  workerCommand,
  workersCommand,
  type WorkerCommandOptions,
} from './commands/worker.js';
import { CLOUDS_FOLDER } from './simulated-world.js';
import { catalogOperations } from './catalog-operations.js';
import { createSimulatedCloud } from '../adapters/infrastructure/index.js';
import { withCliTelemetry, type CommandSpan } from './telemetry.js';

/** The types `opledger run` takes, for help and for the hint on an unknown one. */
const CATALOG_TYPES = catalogOperations(createSimulatedCloud({ seed: 1 })).map((d) => d.type);

const collect = (value: string, previous: string[]) => [...previous, value];

const DEFAULT_USER = 'cli@opledger.local';

interface OtelOption {
  otel?: boolean;
}

/**
 * The `opledger` program: its commands set `exitCode` when they finish. Exposed so that tests
 * check the commands the docs show against the real ones.
 */
export const createProgram = (io: CliIo): { program: Command; exitCode(): number } => {
  let exitCode = EXIT_OK;
  const cli = opledgerCommand(io.env);
  const program = new Command()
    .name(cli)
    .description('Infrastructure Operations as event-sourced aggregates, with rollback.')
    .version(VERSION)
    .addOption(
      new Option('--store <url>', `event store URL (default ${DEFAULT_STORE_URL})`).env(
        'OPLEDGER_STORE',
      ),
    )
    .addOption(
      new Option(
        '--read-store <url>',
        'where read models live for an EventStoreDB store (memory:, sqlite:PATH, postgres://)',
      ).env('OPLEDGER_READ_STORE'),
    )
    .option('--json', 'machine-readable output')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out.write(s),
      writeErr: (s) => io.err.write(s),
    })
    .showHelpAfterError(`(run ${cli} --help for usage)`);

  // Every action sees the global options merged with its own; commander passes the command last.
  const options = <O>(args: unknown[]) => (args[args.length - 1] as Command).optsWithGlobals() as O;
  const action =
    <O>(run: (o: O) => Promise<number>) =>
    async (...args: unknown[]) => {
      exitCode = await run(options<O>(args));
    };
  const actionOn =
    <O>(run: (argument: string, o: O) => Promise<number>) =>
    async (argument: string, ...args: unknown[]) => {
      exitCode = await run(argument, options<O>(args));
    };

  // run, demo and worker run an engine: with --otel their operations are traced and measured.
  const otelOption = () =>
    new Option(
      '--otel',
      'export traces and metrics over OTLP/HTTP, configured by the OTEL_* variables (on when OTEL_EXPORTER_OTLP_ENDPOINT is set)',
    );
  const traced = (
    o: OtelOption,
    span: CommandSpan | undefined,
    run: () => Promise<number>,
  ): Promise<number> => withCliTelemetry(io, { otel: o.otel, version: VERSION }, span, run);

  const cloudOption = new Option(
    '--cloud <file>',
    `the simulated cloud's state file (default ${CLOUDS_FOLDER}/ENV.json)`,
  ).env('OPLEDGER_CLOUD');

  program
    .command('demo')
    .description('the main job: an environment, an app and a database, and what opledger does')
    .option('--env <env>', 'environment of the demo', 'demo')
    .option('--user <email>', 'who runs the operations', 'ada@example.com')
    .option('--speed <n>', "virtual ms per real ms, or 'max'", DEFAULT_DEMO_SPEED)
    .option('--out <file>', 'where to write the activity report CSV')
    .option(
      '--no-history',
      'on a first run, leave out the six weeks of past operations written for the delivery metrics',
    )
    .option(
      '--local',
      'run on real processes of this machine: Node.js servers behind an HTTP proxy under load, a PostgreSQL server',
    )
    .addOption(cloudOption)
    .addOption(otelOption())
    .action(
      action<DemoOptions & OtelOption>((o) =>
        traced(o, { name: 'opledger demo', command: 'demo' }, () => demoCommand(o, io)),
      ),
    );

  program
    .command('run')
    .description('start a catalog operation on the simulated cloud and follow its log')
    .argument('<type>', `operation type: ${CATALOG_TYPES.join(', ')}`)
    .requiredOption('--env <env>', 'environment')
    .requiredOption('--resource <type:handle>', 'resource, e.g. app:web')
    .option('--param <key=value>', 'a param (repeatable; JSON values, dotted keys)', collect, [])
    .option(
      '--fault <spec>',
      `a fault to inject (repeatable):\n${FAULT_FORMS.join('\n')}`,
      collect,
      [],
    )
    .option('--user <email>', 'who runs it', DEFAULT_USER)
    .option('--speed <n>', "virtual ms per real ms, or 'max'", DEFAULT_RUN_SPEED)
    .option('--idempotency-key <key>', 'start it at most once for this key')
    .addOption(cloudOption)
    .addOption(otelOption())
    .action(
      actionOn<RunOptions & OtelOption>((type, o) =>
        traced(
          o,
          {
            name: `opledger run ${type}`,
            command: 'run',
            attributes: {
              'opledger.operation.type': type,
              'opledger.operation.environment': o.env,
            },
          },
          () => runCommand(type, o, io),
        ),
      ),
    );

  program
    .command('operations')
    .description("an environment's operations, newest first")
    .requiredOption('--env <env>', 'environment')
    .option('--resource <handle>', 'HANDLE or TYPE:HANDLE (deleted resources too)')
    .option('--status <status>', 'queued, running, succeeded or failed')
    .option('--type <type>', 'operation type, e.g. app.deploy')
    .option('--limit <n>', 'page size, 1 to 500 (default 50)')
    .option('--offset <n>', 'skip this many')
    .action(action<OperationsOptions>((o) => operationsCommand(o, io)));

  program
    .command('operation:logs')
    .description('the full log of an operation, in any state')
    .argument('<id>', 'operation id')
    .action(actionOn<GlobalOptions>((id, o) => operationLogsCommand(id, o, io)));

  program
    .command('operation:follow')
    .description('stream the log of an operation live until it ends')
    .argument('<id>', 'operation id')
    .action(actionOn<GlobalOptions>((id, o) => operationFollowCommand(id, o, io)));

  program
    .command('operation:cancel')
    .description('request cancellation: the operation rolls back')
    .argument('<id>', 'operation id')
    .option('--user <email>', 'who cancels', DEFAULT_USER)
    .action(actionOn<CancelOptions>((id, o) => operationCancelCommand(id, o, io)));

  program
    .command('activity-report')
    .description("an environment's activity report as CSV (this ISO week by default)")
    .requiredOption('--env <env>', 'environment')
    .option('--week <YYYY-Www>', 'an ISO week, e.g. 2026-W48')
    .option('--from <date>', 'start of a custom range (UTC date or instant)')
    .option('--to <date>', 'end of a custom range, exclusive')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(action<ActivityReportOptions>((o) => activityReportCommand(o, io)));

  program
    .command('activity-reports')
    .description('the weekly activity reports of an environment, newest first')
    .requiredOption('--env <env>', 'environment')
    .action(action<GlobalOptions & { env: string }>((o) => activityReportsCommand(o, io)));

  program
    .command('metrics')
    .description(
      'delivery metrics of an environment or an app: deploys, lead time, change failure rate, time to restore',
    )
    .requiredOption('--env <env>', 'environment')
    .option('--app <handle>', 'one app of the environment (deleted apps too)')
    .option('--from <date>', 'start of the range (UTC date or instant; default 30 days ago)')
    .option('--to <date>', 'end of the range, exclusive')
    .option('--out <file>', 'write the table as CSV to a file')
    .option('--weekly', 'week by week (ISO weeks, UTC): lead time per type over time, and the rest')
    .action(action<MetricsOptions>((o) => metricsCommand(o, io)));

  program
    .command('dashboard')
    .description(
      "serve the web dashboard and its JSON API on 127.0.0.1 until Ctrl-C (opledger's docs/dashboard.md)",
    )
    .option('--port <n>', 'port on 127.0.0.1, 0 for any free one', DEFAULT_DASHBOARD_PORT)
    .action(action<DashboardCommandOptions>((o) => dashboardCommand(o, io)));

  program
    .command('worker')
    .description(
      "run a worker: it claims and runs the operations clients request, and takes over those of workers that died (opledger's docs/workers.md)",
    )
    .requiredOption('--operations <module>', OPERATIONS_MODULE_FORMS)
    .option('--concurrency <n>', 'operations run at once', DEFAULT_CONCURRENCY)
    .option('--identity <name>', 'its name in logs and `workers` (default HOST:PID)')
    .option(
      '--lease-ttl <ms>',
      'how long after its last renewal its operations may be taken over (default 15000)',
    )
    .option(
      '--renew-every <ms>',
      'how often it renews its lease (default 5000, or a third of --lease-ttl if less)',
    )
    .option(
      '--grace <ms>',
      'on SIGTERM or SIGINT, how long running operations may finish before they are cancelled and rolled back',
      DEFAULT_GRACE_MS,
    )
    .addOption(otelOption())
    // No span around a worker: each operation it runs continues the trace of the request that
    // asked for it (stored with the request), not one span as long as the worker's life.
    .action(
      action<WorkerCommandOptions & OtelOption>((o) =>
        traced(o, undefined, () => workerCommand(o, io)),
      ),
    );

  program
    .command('workers')
    .description(
      'the workers of the store, newest first: live, lost and stopped, with the operations each holds',
    )
    .action(action<GlobalOptions>((o) => workersCommand(o, io)));

  program
    .command('projections:rebuild')
    .description('rebuild the read models (operation logs, reports) from the events')
    .action(action<GlobalOptions>((o) => rebuildCommand(o, io)));

  program
    .command('projections:skip')
    .description(
      'pass over the stored event the read models stop at, which cannot be read or repaired: recorded (who, when, why) with their checkpoint',
    )
    .requiredOption('--position <n>', 'the global position the error names')
    .requiredOption('--user <email>', 'who skips it')
    .requiredOption('--reason <text>', 'why it is skipped rather than repaired')
    .action(action<SkipOptions>((o) => skipCommand(o, io)));

  return { program, exitCode: () => exitCode };
};

/**
 * Runs the `opledger` command. Returns the exit code instead of exiting: 0 success, 1 an
 * operation failed or the store failed, 2 bad input.
 */
export const runCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const { program, exitCode } = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode();
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not errors; commander has already printed usage problems.
      return error.exitCode === 0 ? EXIT_OK : 2;
    }
    const cli = toCliError(error, {
      operationTypes: CATALOG_TYPES,
      command: opledgerCommand(io.env),
    });
    println(io.err, `Error: ${cli.message}`);
    if (cli.hint) println(io.err, `Hint: ${cli.hint}`);
    return cli.exitCode;
  }
};

// Kept in step with package.json by a test.
export const VERSION = '0.1.0';

export { CliError };
