export { createVirtualClock, createSequentialIds, type VirtualClock } from './virtual-clock.js';
