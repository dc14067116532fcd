export { appDeploy, appDeployParams, REGISTRIES, type AppDeployParams } from './deploy.js';
export { appRestart, appRestartParams, type AppRestartParams } from './restart.js';
export { appScale, appScaleParams, type AppScaleParams } from './scale.js';
export {
  AppStateError,
  containerIds,
  type AppCatalogOptions,
  type ContainerSpecData,
} from './shared.js';
