import { Readable, pipeline } from 'node:stream';
import { stringify } from 'csv-stringify';
import { allowAll, ensureAllowed, type Authorize } from '../domain/authorization.js';
import {
  EnvironmentNotFoundError,
  InvalidRequestError,
  OperationNotFoundError,
  OperationPurgedError,
} from '../domain/errors.js';
import { decodeEvent } from '../domain/event-codec.js';
import type { EventStore } from '../domain/event-store.js';
import type { LogLine } from '../domain/log-lines.js';
import type { OperationStatus } from '../domain/operation.js';
import type { Clock } from '../engine/clock.js';
import { systemClock } from '../engine/clock.js';
import { toOperationView, type OperationView } from '../engine/operation-result.js';
import { operationStreamName } from '../domain/stream-names.js';
import {
  ACTIVITY_REPORT_COLUMNS,
  neutraliseFormula,
  toActivityReportRow,
  type ActivityReportRow,
} from './activity-report.js';
import { isoWeekOf, isoWeekRange, isoWeeksBetween } from './iso-week.js';
import type { ReadStore, ResourceRecord } from './read-store.js';

export interface ReadOptions {
  /** Whoever asks; passed to `authorize` unchanged. */
  actor?: unknown;
}

export interface ListOperationsOptions extends ReadOptions {
  environment: string;
  resource?: { type: string; handle: string };
  status?: OperationStatus | readonly OperationStatus[];
  type?: string;
  from?: string;
  to?: string;
  /** 1 to 500; 50 by default. */
  limit?: number;
  offset?: number;
}

export interface CsvOptions extends ReadOptions {
  /** Called with the number of rows read so far, for progress. */
  onRow?: (rows: number) => void;
}

export interface OperationPage {
  items: OperationView[];
  total: number;
  limit: number;
  offset: number;
  /** Offset of the next page, absent on the last one. */
  nextOffset?: number;
}

export interface ActivityReportSummary {
  environment: string;
  week: string;
  from: string;
  to: string;
  operations: number;
}

export type ReportRange = { week: string } | { from: string; to: string };

export type ResourceView = ResourceRecord;

export interface EnvironmentView {
  name: string;
  /** Deprovisioned: its name is kept, its operations, resources and reports are gone. */
  deleted: boolean;
  /** The first operation of its current (or, when deleted, its last) lifetime. */
  firstOperationAt: string;
  deprovisionedAt?: string;
}

export interface ReadModel {
  /**
   * The environments the actor may see (`environments:list`, asked per environment), by name;
   * deprovisioned ones included, marked `deleted`.
   */
  environments(options?: ReadOptions): Promise<EnvironmentView[]>;
  /** Every line of the operation's log so far, in order, in any state. */
  logs(operationId: string, options?: ReadOptions): Promise<LogLine[]>;
  /** The log as text for download: one line per entry, ending with the rollback verdict. */
  logText(operationId: string, options?: ReadOptions): Promise<string>;
  operation(operationId: string, options?: ReadOptions): Promise<OperationView>;
  listOperations(options: ListOperationsOptions): Promise<OperationPage>;
  resources(environment: string, options?: ReadOptions): Promise<ResourceView[]>;
  /** The weekly reports of an environment (ISO weeks, UTC), newest first. */
  activityReports(environment: string, options?: ReadOptions): Promise<ActivityReportSummary[]>;
  activityReportRows(
    environment: string,
    range: ReportRange,
    options?: ReadOptions,
  ): AsyncIterable<ActivityReportRow>;
  /** RFC 4180 CSV with a header row, streamed: memory stays flat however many rows. */
  activityReportCsv(
    environment: string,
    range: ReportRange,
    options?: CsvOptions,
  ): Promise<Readable>;
}

export interface ReadModelOptions {
  readStore: ReadStore;
  authorize?: Authorize;
  /** For the current week in `activityReports`. */
  clock?: Pick<Clock, 'now'>;
  /**
   * The event store the read store is projected from. Given, an id the read models do not have
   * is looked up in it: one of a deprovisioned environment is an `OperationPurgedError` that
   * says so, instead of an `OperationNotFoundError`.
   */
  eventStore?: EventStore;
}

/**
 * One line of an Operation Log as text: time, level, step (when any) and message.
 *
 * @example
 * ```ts
 * import { renderLogLine } from 'opledger/projections';
 *
 * for (const line of await reads.logs(operationId)) console.log(renderLogLine(line));
 * ```
 */
export const renderLogLine = (line: LogLine): string =>
  `${line.at} ${line.level.toUpperCase().padEnd(5)} ${line.step ? `[${line.step}] ` : ''}${line.message}`;

const MAX_PAGE = 500;

const isInstant = (value: string) =>
  /^\d{4}-\d{2}-\d{2}(T[\d:.]+Z)?$/.test(value) && !Number.isNaN(Date.parse(value));

/** Accepts a date (midnight UTC) or an ISO 8601 UTC instant. */
const toInstant = (value: string, name: string): string => {
  if (!isInstant(value)) {
    throw new InvalidRequestError(
      `${name} '${value}' is not a date (YYYY-MM-DD) or an ISO 8601 UTC instant`,
    );
  }
  return new Date(value).toISOString();
};

export const resolveRange = (range: ReportRange): { from: string; to: string } => {
  if ('week' in range) return isoWeekRange(range.week);
  const from = toInstant(range.from, 'from');
  const to = toInstant(range.to, 'to');
  if (from >= to)
    throw new InvalidRequestError(`the range must end after it starts (from ${from}, to ${to})`);
  return { from, to };
};

/**
 * The read models over a projected read store: operations, their logs, resources, environments
 * and the weekly Activity Report (as rows or CSV), each read checked by `authorize`.
 *
 * @example
 * ```ts
 * import { createReadModel } from 'opledger/projections';
 *
 * const reads = createReadModel({ readStore, authorize: (actor) => actor === 'ada@example.com' });
 * const page = await reads.listOperations({ environment: 'production', actor: 'ada@example.com' });
 * ```
 */
export const createReadModel = (options: ReadModelOptions): ReadModel => {
  const { readStore } = options;
  const authorize = options.authorize ?? allowAll;
  const clock = options.clock ?? systemClock;

  const activeEnvironment = async (environment: string) => {
    const env = await readStore.environment(environment);
    if (!env || env.status !== 'active') throw new EnvironmentNotFoundError(environment);
    return env;
  };

  /** Why the read models have no operation `id`: purged with its environment, or unknown. */
  const missing = async (id: string, actor: unknown): Promise<never> => {
    const [first] = options.eventStore
      ? await options.eventStore.readStream(operationStreamName(id), { maxCount: 1 })
      : [];
    const requested = first ? decodeEvent(first) : undefined;
    if (first && requested?.type === 'OperationRequested') {
      const { environment, resource } = requested.data;
      const env = await readStore.environment(environment);
      if (env?.purgedThrough !== undefined && first.globalPosition <= BigInt(env.purgedThrough)) {
        // Asked as for a record: an actor that may not read it learns nothing more.
        await ensureAllowed(authorize, actor, 'operation:read', {
          environment,
          operationId: id,
          resource,
        });
        throw new OperationPurgedError(id, environment, env.deprovisionedAt);
      }
    }
    throw new OperationNotFoundError(id);
  };

  const operationRecord = async (id: string, actor: unknown) => {
    const record = await readStore.operation(id);
    if (!record) return missing(id, actor);
    await ensureAllowed(authorize, actor, 'operation:read', {
      environment: record.environment,
      operationId: id,
      resource: { type: record.resourceType, handle: record.resourceHandle },
    });
    return record;
  };

  const logs = async (id: string, { actor }: ReadOptions = {}) => {
    await operationRecord(id, actor);
    return readStore.logLines(id);
  };

  async function* activityReportRows(
    environment: string,
    range: ReportRange,
    { actor }: ReadOptions = {},
  ): AsyncIterable<ActivityReportRow> {
    await ensureAllowed(authorize, actor, 'activity-reports:read', { environment });
    const { from, to } = resolveRange(range);
    await activeEnvironment(environment);
    const resources = new Map(
      (await readStore.resources(environment)).map((r) => [`${r.type}\u0000${r.handle}`, r]),
    );
    for await (const record of readStore.operationsCreatedBetween(environment, from, to)) {
      yield toActivityReportRow(
        record,
        resources.get(`${record.resourceType}\u0000${record.resourceHandle}`),
      );
    }
  }

  return {
    async environments({ actor }: ReadOptions = {}) {
      const visible: EnvironmentView[] = [];
      for (const env of await readStore.environments()) {
        if (!(await authorize(actor, 'environments:list', { environment: env.environment })))
          continue;
        visible.push({
          name: env.environment,
          deleted: env.status === 'deprovisioned',
          firstOperationAt: env.firstOperationAt,
          ...(env.deprovisionedAt !== undefined ? { deprovisionedAt: env.deprovisionedAt } : {}),
        });
      }
      return visible;
    },
    logs,
    async logText(id, readOptions) {
      const lines = await logs(id, readOptions);
      return lines.map((l) => `${renderLogLine(l)}\n`).join('');
    },
    operation: async (id, { actor }: ReadOptions = {}) =>
      toOperationView((await operationRecord(id, actor)).state),

    async listOperations(o) {
      await ensureAllowed(authorize, o.actor, 'operations:list', {
        environment: o.environment,
        ...(o.resource ? { resource: o.resource } : {}),
      });
      const limit = o.limit ?? 50;
      const offset = o.offset ?? 0;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
        throw new InvalidRequestError(
          `limit must be an integer from 1 to ${MAX_PAGE}, got ${limit}`,
        );
      }
      if (!Number.isInteger(offset) || offset < 0) {
        throw new InvalidRequestError(`offset must be an integer of 0 or more, got ${offset}`);
      }
      await activeEnvironment(o.environment);
      const { items, total } = await readStore.listOperations({
        environment: o.environment,
        limit,
        offset,
        ...(o.resource ? { resource: o.resource } : {}),
        ...(o.status !== undefined ? { status: o.status } : {}),
        ...(o.type !== undefined ? { type: o.type } : {}),
        ...(o.from !== undefined ? { from: toInstant(o.from, 'from') } : {}),
        ...(o.to !== undefined ? { to: toInstant(o.to, 'to') } : {}),
      });
      return {
        items: items.map((r) => toOperationView(r.state)),
        total,
        limit,
        offset,
        ...(offset + items.length < total ? { nextOffset: offset + items.length } : {}),
      };
    },

    async resources(environment, { actor }: ReadOptions = {}) {
      await ensureAllowed(authorize, actor, 'resources:list', { environment });
      await activeEnvironment(environment);
      return readStore.resources(environment);
    },

    async activityReports(environment, { actor }: ReadOptions = {}) {
      await ensureAllowed(authorize, actor, 'activity-reports:read', { environment });
      const env = await activeEnvironment(environment);
      const counts = new Map<string, number>();
      for (const createdAt of await readStore.operationDates(environment)) {
        const week = isoWeekOf(createdAt);
        counts.set(week, (counts.get(week) ?? 0) + 1);
      }
      const now = clock.now().toISOString();
      const last = now > env.firstOperationAt ? now : env.firstOperationAt;
      return isoWeeksBetween(env.firstOperationAt, last)
        .reverse()
        .map((week) => ({
          environment,
          week,
          ...isoWeekRange(week),
          operations: counts.get(week) ?? 0,
        }));
    },

    activityReportRows,

    async activityReportCsv(environment, range, readOptions) {
      // Fail fast on a bad range, a missing environment or a denial, before any byte is sent.
      await ensureAllowed(authorize, readOptions?.actor, 'activity-reports:read', { environment });
      resolveRange(range);
      await activeEnvironment(environment);
      const rows = Readable.from(
        (async function* () {
          let count = 0;
          for await (const row of activityReportRows(environment, range, readOptions)) {
            readOptions?.onRow?.(++count);
            yield ACTIVITY_REPORT_COLUMNS.map((c) => neutraliseFormula(row[c]));
          }
        })(),
      );
      const csv = stringify({
        header: true,
        columns: [...ACTIVITY_REPORT_COLUMNS],
        record_delimiter: 'windows',
      });
      pipeline(rows, csv, () => undefined);
      return csv;
    },
  };
};
