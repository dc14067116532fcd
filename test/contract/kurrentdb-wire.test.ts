import { describeWireContract } from '../support/esdb-wire-contract.js';

// @kurrent/kurrentdb-client only: the two packages cannot share a process (see esdb-wire-server.ts).
describeWireContract('kurrentdb');
