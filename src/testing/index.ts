export { createVirtualClock, type VirtualClock } from '../engine/virtual-clock.js';
export { createSequentialIds } from './sequential-ids.js';
export {
  checkRollback,
  faultPlanArbitrary,
  InjectedFailure,
  type FaultPlan,
  type FaultPlanStep,
  type RollbackCheck,
  type RollbackCounterexample,
  type RollbackHarnessOptions,
} from './rollback-harness.js';
export {
  applyCloudFaultPlan,
  catalogParamsArbitraries,
  cloudFaultPlanArbitrary,
  handleArbitrary,
  operationRequestArbitrary,
  userArbitrary,
  type CloudCrash,
  type CloudCrashOptions,
  type CloudFaultPlan,
  type CloudFaultPlanOptions,
  type CloudOutage,
  type OperationParamsSpec,
  type OperationRequestOptions,
  type RequestTarget,
} from './arbitraries.js';
export type { CatalogOperationType } from './catalog-params.js';
