export { databaseRedeploy, databaseRedeployParams } from './redeploy.js';
export type { DatabaseRedeployOptions, DatabaseRedeployParams } from './redeploy.js';
export { databaseResizeVolume, databaseResizeVolumeParams } from './resize-volume.js';
export type { DatabaseResizeVolumeOptions, DatabaseResizeVolumeParams } from './resize-volume.js';
export { databaseProvision, databaseProvisionParams } from './provision.js';
export type { DatabaseProvisionParams } from './provision.js';
export {
  databaseBackup,
  databaseBackupParams,
  databaseDeprovision,
  databaseDeprovisionParams,
  DatabaseNotFoundError,
  databaseRestart,
  databaseRestartParams,
} from './operate.js';
export type {
  DatabaseBackupParams,
  DatabaseDeprovisionParams,
  DatabaseRestartParams,
} from './operate.js';
export { PlacementError } from './placement.js';
