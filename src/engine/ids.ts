import { randomBytes } from 'node:crypto';
import type { Clock } from './clock.js';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

const encodeTime = (ms: number): string => {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
};

// randomBytes costs a call into the system's random source each time (4% of an engine
// operation in a profile, for 5 bytes): the bytes are drawn in blocks and handed out in turn.
const BLOCK = 5 * 1024;
let block = Buffer.alloc(0);
let used = 0;
const randomHex = (bytes: number): string => {
  if (used + bytes > block.length) {
    block = randomBytes(BLOCK);
    used = 0;
  }
  used += bytes;
  return block.toString('hex', used - bytes, used);
};

/**
 * Operation ids that sort by creation time: 10 characters of milliseconds, then a counter that
 * keeps ids made in the same millisecond in order, then randomness against collisions
 * between processes.
 */
export const createTimeOrderedIds = (clock: Pick<Clock, 'now'>): (() => string) => {
  let lastMs = -1;
  let counter = 0;
  return () => {
    const ms = clock.now().getTime();
    counter = ms === lastMs ? counter + 1 : 0;
    lastMs = ms;
    const random = randomHex(5);
    return `${encodeTime(ms)}${counter.toString(32).padStart(4, '0')}${random}`;
  };
};
