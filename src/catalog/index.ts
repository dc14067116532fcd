// The ready-made operations of the PaaS in the seed, over the infrastructure port.
export * from './app/index.js';
export * from './database/index.js';
export * from './environment/index.js';
export * from './ssh/index.js';
export { PreconditionFailedError } from './precondition-error.js';
// The port the operations above need; adapters (opledger/adapters/infrastructure and
// opledger/adapters/local) implement it.
export * from './infrastructure-port.js';
export * from './cloud-errors.js';
