export { createVirtualClock, createSequentialIds, type VirtualClock } from './virtual-clock.js';
export {
  checkRollback,
  faultPlanArbitrary,
  InjectedFailure,
  type FaultPlan,
  type RollbackCheck,
  type RollbackCounterexample,
  type RollbackHarnessOptions,
} from './rollback-harness.js';
