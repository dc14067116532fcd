export { appDeploy, appDeployParams, REGISTRIES, type AppDeployParams } from './deploy.js';
export { appRestart, appRestartParams, type AppRestartParams } from './restart.js';
export { appScale, appScaleParams, type AppScaleParams } from './scale.js';
export { appProvision, appProvisionParams, type AppProvisionParams } from './provision.js';
export { appConfigure, appConfigureParams, type AppConfigureParams } from './configure.js';
export { appDeprovision, appDeprovisionParams, type AppDeprovisionParams } from './deprovision.js';
export {
  appRollback,
  appRollbackParams,
  previousRelease,
  RELEASE_OPERATION_TYPES,
  type AppRollbackParams,
} from './rollback.js';
export { envKeyObject, type SealedContainerSpec } from './sealed-env.js';
export { SecretParamsUnavailableError } from './secret-params.js';
export { AppStateError, RestoreImpossibleError } from './app-errors.js';
export type { AppCatalogOptions } from './app-options.js';
export { containerIds } from './app-target.js';
export type { ContainerSpecData } from './container-specs.js';
