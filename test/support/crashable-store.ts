import { Observable } from 'rxjs';
import type { EventStore } from '../../src/index.js';

export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
  constructor() {
    super('simulated crash: this process is gone');
  }
}

export interface CrashableStore extends EventStore {
  /** From now on every call fails, as if the process holding this store had died. */
  crash(): void;
  readonly crashed: boolean;
  readonly appends: number;
}

/**
 * Wraps a store so a test can kill "the process" at an exact append: `crashAt` counts appends
 * (1-based); with `lostAck`, the crashing append is written before the process dies, as when a
 * write commits and the process is killed before it hears back.
 */
export const createCrashableStore = (
  inner: EventStore,
  options: { crashAt?: number; lostAck?: boolean } = {},
): CrashableStore => {
  let crashed = false;
  let appends = 0;
  const listeners = new Set<() => void>();
  const crash = () => {
    if (crashed) return;
    crashed = true;
    for (const l of [...listeners]) l();
  };
  const guard = () => {
    if (crashed) throw new SimulatedCrash();
  };
  return {
    crash,
    get crashed() {
      return crashed;
    },
    get appends() {
      return appends;
    },
    async append(stream, events, appendOptions) {
      guard();
      appends++;
      if (options.crashAt !== undefined && appends >= options.crashAt) {
        if (options.lostAck) await inner.append(stream, events, appendOptions);
        crash();
        throw new SimulatedCrash();
      }
      return inner.append(stream, events, appendOptions);
    },
    async readStream(stream, readOptions) {
      guard();
      return inner.readStream(stream, readOptions);
    },
    async readAll(readOptions) {
      guard();
      return inner.readAll(readOptions);
    },
    async headPosition() {
      guard();
      return inner.headPosition();
    },
    subscribe(subscribeOptions) {
      return new Observable((subscriber) => {
        if (crashed) return subscriber.error(new SimulatedCrash());
        const kill = () => subscriber.error(new SimulatedCrash());
        listeners.add(kill);
        const sub = inner.subscribe(subscribeOptions).subscribe({
          next: (e) => (crashed ? kill() : subscriber.next(e)),
          error: (e) => subscriber.error(e),
          complete: () => subscriber.complete(),
        });
        return () => {
          listeners.delete(kill);
          sub.unsubscribe();
        };
      });
    },
    async close() {
      crash();
    },
  };
};
