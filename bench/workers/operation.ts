import { defineOperation, step } from '../../src/domain/operation-definition.js';

/** How long each step waits: an I/O-bound call, like real infrastructure's. */
export const STEP_WAIT_MS = 20;

const wait = () => new Promise<void>((resolve) => setTimeout(resolve, STEP_WAIT_MS));

/** The benchmark's operation: five undoable steps that each wait 20 ms. */
export const waitOperation = defineOperation({
  type: 'wait5',
  steps: ['one', 'two', 'three', 'four', 'five'].map((name) =>
    step({ name, run: wait, undo: () => undefined }),
  ),
});
