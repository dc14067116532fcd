import { existsSync } from 'node:fs';
import { ENVIRONMENT_RESOURCE } from '../../domain/stream-names.js';
import type { EventStore } from '../../domain/event-store.js';
import type { OperationResult } from '../../engine/operation-result.js';
import { isoWeekOf, isoWeekRange } from '../../projections/iso-week.js';
import { println, type CliIo } from '../cli-io.js';
import { lockFileOf } from '../cloud-file.js';
import { cloudFileOf, openSimulatedWorld, type SimulatedWorld } from '../simulated-world.js';
import { runScenes } from './demo-scenes.js';

/** How many ISO weeks before the current one the demo's history covers. */
export const HISTORY_WEEKS = 6;

/** The apps of the history: not the demo's own `web`, whose scenes stay as they were. */
export const HISTORY_APPS = ['shop', 'blog'] as const;

const DAY = 86_400_000;
const HOUR = 3_600_000;

type Trouble =
  /** The image never answers: the health check fails and the deploy rolls back. */
  | 'unhealthy'
  /** Docker Hub is down: the pull fails over to Quay.io, and the deploy succeeds. */
  | 'docker-hub-outage'
  /** Both registries are down: the pull fails, nothing to undo. */
  | 'registries-outage';

/** What a past operation ended as: the demo fails loudly when it ends otherwise. */
type Outcome = 'succeeded' | 'failed' | 'cancelled';

/** One operation of the history, at a time relative to the history's first Monday. */
export interface PastOperation {
  /** 0 is the first week of the history, HISTORY_WEEKS - 1 the week before the current one. */
  week: number;
  /** 0 is Monday. */
  day: number;
  /** Hour of the day, UTC. */
  hour: number;
  type: string;
  /** An app of HISTORY_APPS, or the environment for `environment.provision`. */
  handle?: (typeof HISTORY_APPS)[number];
  params?: Record<string, unknown>;
  trouble?: Trouble;
  /** Virtual ms after the start at which the operation is cancelled. */
  cancelAfterMs?: number;
  outcome: Outcome;
}

const deploy = (
  week: number,
  day: number,
  hour: number,
  handle: 'shop' | 'blog',
  version: number,
  outcome: Outcome = 'succeeded',
  extra: Partial<PastOperation> = {},
): PastOperation => ({
  week,
  day,
  hour,
  type: 'app.deploy',
  handle,
  params: { image: `${handle}:v${version}` },
  outcome,
  ...extra,
});

/**
 * Six weeks of a small team's operations, written before the demo's present so that every
 * chart of the Metrics page has something on it: deploys most days, a failure every week or
 * two (a failed health check, a migration that cannot be undone, both registries down, a
 * cancel), each restored by a later deploy of the same app some hours or a day after, and
 * restarts and scales beside them. Fixed, so that tests can count on it.
 */
export const PAST_OPERATIONS: readonly PastOperation[] = [
  { week: 0, day: 0, hour: 9, type: 'environment.provision', outcome: 'succeeded' },
  { week: 0, day: 0, hour: 9.5, type: 'app.provision', handle: 'shop', outcome: 'succeeded' },
  { week: 0, day: 0, hour: 10, type: 'app.provision', handle: 'blog', outcome: 'succeeded' },
  deploy(0, 1, 10, 'shop', 1),
  deploy(0, 2, 14, 'blog', 1),
  deploy(0, 3, 11, 'shop', 2),

  deploy(1, 0, 10, 'shop', 3),
  deploy(1, 1, 15, 'blog', 2, 'failed', { trouble: 'unhealthy' }),
  deploy(1, 1, 17.5, 'blog', 3),
  {
    week: 1,
    day: 3,
    hour: 9,
    type: 'app.scale',
    handle: 'shop',
    params: { containerCount: 3 },
    outcome: 'succeeded',
  },
  deploy(1, 4, 16, 'shop', 4),

  deploy(2, 0, 9, 'shop', 5),
  deploy(2, 2, 14, 'shop', 6, 'failed', {
    trouble: 'unhealthy',
    params: { image: 'shop:v6', beforeRelease: ['bundle exec rake db:migrate'] },
  }),
  deploy(2, 3, 10, 'shop', 7),
  { week: 2, day: 3, hour: 15, type: 'app.restart', handle: 'blog', outcome: 'succeeded' },
  deploy(2, 4, 11, 'blog', 4),

  deploy(3, 1, 10, 'blog', 5, 'succeeded', { trouble: 'docker-hub-outage' }),
  deploy(3, 2, 9, 'shop', 8),
  deploy(3, 2, 15, 'shop', 9, 'cancelled', { cancelAfterMs: 25_000 }),
  deploy(3, 3, 10, 'shop', 9),
  { week: 3, day: 4, hour: 12, type: 'app.restart', handle: 'shop', outcome: 'succeeded' },

  deploy(4, 0, 10, 'shop', 10, 'failed', { trouble: 'registries-outage' }),
  deploy(4, 0, 13, 'shop', 10),
  deploy(4, 1, 11, 'blog', 6),
  deploy(4, 3, 16, 'blog', 7, 'failed', { trouble: 'unhealthy' }),
  deploy(4, 4, 10, 'blog', 8),

  deploy(5, 0, 9, 'shop', 11),
  deploy(5, 1, 14, 'blog', 9),
  {
    week: 5,
    day: 2,
    hour: 10,
    type: 'app.scale',
    handle: 'blog',
    params: { containerCount: 2 },
    outcome: 'succeeded',
  },
  deploy(5, 3, 11, 'shop', 12),
  deploy(5, 4, 15, 'blog', 10),
];

/** Monday 00:00 UTC of the history's first week: HISTORY_WEEKS ISO weeks before `now`'s. */
export const historyStart = (now: Date): Date =>
  new Date(Date.parse(isoWeekRange(isoWeekOf(now)).from) - HISTORY_WEEKS * 7 * DAY);

const timeOf = (start: Date, op: PastOperation) =>
  start.getTime() + (op.week * 7 + op.day) * DAY + op.hour * HOUR;

const outcomeOf = (r: OperationResult): Outcome =>
  r.status === 'failed' && r.cancelled
    ? 'cancelled'
    : r.status === 'succeeded'
      ? 'succeeded'
      : 'failed';

const line = (r: OperationResult, op: PastOperation, at: number, env: string) => {
  const resource = op.handle ? `app:${op.handle}` : `${ENVIRONMENT_RESOURCE}:${env}`;
  const image = typeof op.params?.image === 'string' ? ` ${op.params.image}` : '';
  const rollback = r.rollback === 'none' ? '' : `, rollback ${r.rollback}`;
  const status = r.cancelled ? 'cancelled' : r.status;
  return `   ${new Date(at).toISOString().slice(0, 16).replace('T', ' ')}  ${op.type} ${resource}${image}: ${status}${rollback}`;
};

const troubleBefore = (world: SimulatedWorld, op: PastOperation, image: string) => {
  const now = world.clock.now().getTime();
  const window = { from: now, to: now + 6 * HOUR };
  if (op.trouble === 'unhealthy') world.cloud.setImageBehaviour(image, { responds: false });
  if (op.trouble === 'docker-hub-outage') world.cloud.faults.outage('registry:docker-hub', window);
  if (op.trouble === 'registries-outage') {
    world.cloud.faults.outage('registry:docker-hub', window);
    world.cloud.faults.outage('registry:quay', window);
  }
};

export interface HistoryOptions {
  env: string;
  user: string;
  cloud?: string;
  store: EventStore;
}

export interface HistoryRun {
  results: OperationResult[];
  /** A stop signal ended the history early. */
  stopped: boolean;
}

/**
 * Writes the demo's history: the operations of PAST_OPERATIONS, run on the simulated cloud with
 * a clock that starts HISTORY_WEEKS weeks ago and does not wait (the cloud's durations are
 * virtual), so weeks of operations take a second or two. The cloud's saved time then sits at
 * the last of them, and the demo's present starts after it, as virtual time never goes back.
 *
 * A cloud whose saved time is already past the history's start (the cloud of an earlier run,
 * against a new store) keeps the part of the history still ahead of it; a cloud that a dead
 * process left locked gets no history, so that its next opener recovers what that process
 * left running, at the present time.
 */
export const writeDemoHistory = async (
  options: HistoryOptions,
  io: CliIo,
  now = new Date(),
): Promise<HistoryRun> => {
  const cloudFile = cloudFileOf(options.env, options.cloud);
  const start = historyStart(now);
  println(io.out);
  println(
    io.out,
    `== History: ${HISTORY_WEEKS} weeks of operations before this week, for the delivery metrics`,
  );
  if (existsSync(lockFileOf(cloudFile))) {
    println(io.out, '-> Skipped: an earlier run left the simulated cloud locked.');
    return { results: [], stopped: false };
  }
  const world = openSimulatedWorld({
    environment: options.env,
    store: options.store,
    speed: Infinity,
    start,
    ...(options.cloud ? { cloudFile: options.cloud } : {}),
  });
  const { results, stopped } = await runScenes(world, io, options.user, {
    scenes: PAST_OPERATIONS,
    expected: (op) => ({
      title: `history: ${op.type} ${op.handle ?? options.env} (${op.outcome})`,
      expect: (r) => outcomeOf(r) === op.outcome,
    }),
    run: async (op, _, started) => {
      const at = timeOf(start, op);
      // A cloud already past this time (an earlier run's) cannot go back to it.
      if (at <= world.clock.now().getTime()) return undefined;
      await world.clock.sleep(at - world.clock.now().getTime());
      const params: Record<string, unknown> = op.handle
        ? { app: op.handle, ...op.params }
        : { environment: options.env };
      troubleBefore(world, op, String(params.image));
      const handle = await world.engine.start({
        type: op.type,
        environment: options.env,
        resource: op.handle
          ? { type: 'app', handle: op.handle }
          : { type: ENVIRONMENT_RESOURCE, handle: options.env },
        user: options.user,
        params,
      });
      started(handle.id);
      world.track(handle.id);
      if (op.cancelAfterMs !== undefined) {
        const id = handle.id;
        world.clock.at(at + op.cancelAfterMs, () =>
          world.engine.cancel(id, { user: options.user }),
        );
      }
      const result = await handle.result;
      world.cloud.faults.clear();
      world.save();
      println(io.out, line(result, op, at, options.env));
      return result;
    },
  });
  const failed = results.filter((r) => outcomeOf(r) === 'failed').length;
  const cancelled = results.filter((r) => outcomeOf(r) === 'cancelled').length;
  println(
    io.out,
    `-> ${results.length} operations from ${start.toISOString().slice(0, 10)}: ${results.length - failed - cancelled} succeeded, ${failed} failed, ${cancelled} cancelled`,
  );
  return { results, stopped };
};
