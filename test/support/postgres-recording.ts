import type { Observable, Subscription } from 'rxjs';
import type { EventData, RecordedEvent } from '../../src/domain/event-store.js';

export const event = (type: string, data: unknown = {}): EventData => ({ type, version: 1, data });

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves once `condition` holds; fails after `timeoutMs`, saying what it waited for. */
export const waitFor = async (
  condition: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 10_000,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    }
    await sleep(5);
  }
};

export interface Recording {
  readonly events: RecordedEvent[];
  readonly error: unknown;
  readonly completed: boolean;
  readonly subscription: Subscription;
  /** When each event arrived (performance.now()), by global position. */
  readonly arrivals: Map<bigint, number>;
}

export const record = (source: Observable<RecordedEvent>): Recording => {
  const events: RecordedEvent[] = [];
  const arrivals = new Map<bigint, number>();
  const state = { error: undefined as unknown, completed: false };
  const subscription = source.subscribe({
    next: (e) => {
      events.push(e);
      arrivals.set(e.globalPosition, performance.now());
    },
    error: (error: unknown) => (state.error = error),
    complete: () => (state.completed = true),
  });
  return {
    events,
    arrivals,
    subscription,
    get error() {
      return state.error;
    },
    get completed() {
      return state.completed;
    },
  };
};

/** A small seeded generator (mulberry32), so that a failing run can be replayed. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};
