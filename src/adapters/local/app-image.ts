import { publishImage } from './local-images.js';

/** How the sample web app of an image behaves, to show a deploy that succeeds or fails. */
export interface AppImageOptions {
  /** false: the process exits at once with status 1 (a release that crashes on boot). */
  boots?: boolean;
  /** The status `/healthcheck` answers (the strict health check wants 200). Default 200. */
  healthcheckStatus?: number;
  /** Time each request takes, to keep requests in flight while targets change. Default 0. */
  responseDelayMs?: number;
  /** Time the app takes to start listening. Default 0. */
  bootDelayMs?: number;
  /** true: SIGTERM is ignored, so only the SIGKILL after the stop timeout stops it. */
  ignoresSigterm?: boolean;
}

/**
 * The sample web app: answers every request with its release and container, and on SIGTERM
 * stops accepting connections, finishes the requests in flight and exits, as a well-behaved
 * container does. Plain JavaScript run by the Node.js running opledger: no dependencies.
 */
const serverSource = (options: AppImageOptions) => `'use strict';
const http = require('node:http');
const release = process.env.RELEASE || 'unknown';
const container = process.env.OPLEDGER_CONTAINER_ID || 'unknown';
const delay = ${Number(options.responseDelayMs ?? 0)};
const healthcheckStatus = ${Number(options.healthcheckStatus ?? 200)};
if (${options.boots === false}) {
  console.error('release ' + release + ' fails to boot');
  process.exit(1);
}
const server = http.createServer((req, res) => {
  const answer = () => {
    const status = req.url === '/healthcheck' ? healthcheckStatus : 200;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ release, container }));
  };
  if (delay > 0) setTimeout(answer, delay);
  else answer();
});
server.keepAliveTimeout = 5000;
const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  // A client holding a connection open must not keep the container alive forever.
  setTimeout(() => process.exit(0), 10000).unref();
};
process.on('SIGTERM', ${options.ignoresSigterm === true} ? () => console.log('ignoring SIGTERM') : stop);
process.on('SIGINT', stop);
setTimeout(() => {
  server.listen(Number(process.env.PORT), '127.0.0.1', () => {
    console.log('release ' + release + ' listening on ' + process.env.PORT);
  });
}, ${Number(options.bootDelayMs ?? 0)});
`;

/** Publishes the sample web app as `ref` (e.g. `web:v2`) into a registry folder. */
export const publishAppImage = (registry: string, ref: string, options: AppImageOptions = {}) =>
  publishImage(registry, ref, {
    manifest: { command: ['node', 'server.cjs'], env: { RELEASE: ref } },
    files: { 'server.cjs': serverSource(options) },
  });
