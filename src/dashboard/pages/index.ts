import type { Handler } from '../handler.js';
import type { Route } from '../router.js';
import { activityPage } from './activity-page.js';
import { environmentPages } from './environment-pages.js';
import { operationPage } from './operation-page.js';
import type { PageDependencies } from './page.js';
import { metricsPage } from './metrics-page.js';
import { reportsPage } from './reports-page.js';
import type { DeliveryMetricsService } from '../../projections/delivery-metrics.js';

export type { PageDependencies } from './page.js';
export { ACTIVITY_PAGE_SIZE } from './activity-page.js';

/**
 * The dashboard's pages: HTML rendered on the server from the same read model as the API, with
 * the same `authorize` checks. The script of the layout adds the operation page's live log and
 * cancel button; every page reads without it.
 */
export const pageRoutes = (
  deps: PageDependencies,
  delivery?: DeliveryMetricsService,
): Route<Handler>[] => [
  ...environmentPages(deps),
  activityPage(deps),
  operationPage(deps),
  reportsPage(deps),
  ...(delivery ? [metricsPage(deps, delivery)] : []),
];
