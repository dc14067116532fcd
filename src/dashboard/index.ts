/** `opledger/dashboard`: the read-only web dashboard over a read model and an event store. */
export {
  createDashboardServer,
  DEFAULT_ACTOR_HEADER,
  type DashboardOptions,
  type DashboardServer,
  type DashboardSources,
} from './server.js';
