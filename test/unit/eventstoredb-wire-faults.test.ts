import { describeWireFaults } from '../support/esdb-wire-faults.js';

// One client package per file: the two cannot share a process (see esdb-wire-server.ts).
describeWireFaults('eventstoredb');
