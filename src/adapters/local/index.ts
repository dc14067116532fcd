export {
  createLocalInfrastructure,
  type LocalInfrastructure,
  type LocalInfrastructureFaults,
  type LocalInfrastructureOptions,
} from './local-infrastructure.js';
export {
  imageManifestSchema,
  publishImage,
  type ImageManifest,
  type ImageManifestInput,
} from './local-images.js';
export { publishAppImage, type AppImageOptions } from './app-image.js';
export { DEFAULT_POSTGRES_BIN, publishPostgresImage } from './postgres-image.js';
export { probePostgres } from './postgres-probe.js';
export { startHttpProxy, type HttpProxy, type ProxyStats, type ProxyTarget } from './http-proxy.js';
export { startLoad, type LoadGenerator, type LoadReport } from './load-generator.js';
export {
  watchConnections,
  type ConnectionWatch,
  type ConnectionWindow,
} from './connection-watch.js';
