/**
 * `opledger/projections`: the read side. The projector that folds the event store into a read
 * store, the read models over it (operations, logs, resources, environments, the Activity
 * Report and its CSV), projections of your own (`defineProjection`, immer drafts), and the
 * ISO-week helpers the reports use.
 */
export {
  createProjector,
  OPERATIONS_PROJECTION,
  type Projector,
  type ProjectorOptions,
  type SkipRequest,
} from './projector.js';
export { withReadStoreOutageRetry, type ProjectorOutageOptions } from './read-store-outage.js';
export {
  createReadModel,
  renderLogLine,
  type ActivityReportSummary,
  type ListOperationsOptions,
  type OperationPage,
  type ReadModel,
  type ReadModelOptions,
  type ReadOptions,
  type CsvOptions,
  type EnvironmentView,
  type ReportRange,
  type ResourceView,
} from './read-model.js';
export {
  ACTIVITY_REPORT_COLUMNS,
  neutraliseFormula,
  type ActivityReportRow,
} from './activity-report.js';
export {
  defineProjection,
  createProjection,
  type CreateProjectionOptions,
  type EventMeta,
  type OperationContext,
  type ProjectionDefinition,
  type ProjectionDocument,
  type ProjectionHandler,
  type ProjectionHandlers,
  type ProjectionListOptions,
  type ProjectionPage,
  type UserProjection,
} from './define-projection.js';
export {
  computeDeliveryMetrics,
  createDeliveryMetrics,
  deliveryProjection,
  weeklyDeliveryMetrics,
  type WeeklyDeliveryMetrics,
  DEFAULT_DEPLOY_TYPES,
  DELIVERY_PROJECTION,
  type Counted,
  type DeliveryMetrics,
  type DeliveryMetricsOptions,
  type DeliveryMetricsService,
  type MetricsQuery,
  type OperationSummary,
  type Percentiles,
  type ResourceHistory,
} from './delivery-metrics.js';
export {
  deliveryMetricsCsv,
  deliveryMetricsRows,
  METRICS_COLUMNS,
  type MetricsRow,
  weeklyDeliveryMetricsCsv,
  weeklyDeliveryMetricsRows,
  WEEKLY_METRICS_COLUMNS,
  type WeeklyMetricsRow,
} from './metrics-table.js';
export { ProjectionHandlerError, InvalidProjectionError } from './projection-errors.js';
export { isoWeekOf, isoWeekRange, InvalidWeekError } from './iso-week.js';
export type {
  ReadStore,
  ReadModelTransaction,
  ReadModelTransactionNow,
  OperationRecord,
  ResourceRecord,
  EnvironmentRecord,
  OperationQuery,
  SkippedEvent,
  StoredDocument,
} from './read-store.js';
export { ENVIRONMENT_RESOURCE } from '../domain/stream-names.js';
