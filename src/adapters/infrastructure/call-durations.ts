import type { CloudCall } from '../../catalog/infrastructure-port.js';

/**
 * Virtual time each call takes, in ms. Realistic orders of magnitude so that downtime bounds in
 * tests mean something: a launch takes a minute, a describe a fraction of a second.
 */
export type CallDurations = Record<CloudCall, number> & {
  /** Time a call takes to fail on an injected fault (outage or error rate). */
  failedCall: number;
};

export const DEFAULT_CALL_DURATIONS: Readonly<CallDurations> = {
  ensureInstance: 60_000,
  terminateInstance: 5_000,
  describeInstance: 200,
  pullImage: 20_000,
  startContainer: 5_000,
  checkHealth: 500,
  // Graceful shutdown of a well-behaved app; capped by the stop timeout (then SIGKILL).
  stopContainer: 2_000,
  removeContainer: 500,
  describeContainer: 200,
  createVolume: 5_000,
  attachVolume: 3_000,
  mountVolume: 1_000,
  unmountVolume: 1_000,
  detachVolume: 3_000,
  resizeVolume: 10_000,
  deleteVolume: 2_000,
  describeVolume: 200,
  createEndpoint: 5_000,
  registerTarget: 1_000,
  // The call itself; the drain period is waited on top of it.
  deregisterTarget: 1_000,
  deleteEndpoint: 2_000,
  describeEndpoint: 200,
  putObject: 2_000,
  getObject: 1_000,
  deleteObject: 500,
  createDatabase: 500,
  deleteDatabase: 500,
  acceptsConnections: 100,
  failedCall: 100,
};
