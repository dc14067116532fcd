import type { OperationResult } from '../../engine/operation-result.js';
import type { CliIo } from '../cli-io.js';
import { onStopSignals } from '../follow-operation.js';
import type { SimulatedWorld } from '../simulated-world.js';
import { checkScene } from './demo-summary.js';

export interface SceneRun<S> {
  scenes: Iterable<S>;
  /** What a scene is expected to end as (checked unless a stop signal came meanwhile). */
  expected: (scene: S) => { title: string; expect: (result: OperationResult) => boolean };
  /**
   * Runs one scene: calls `started` with its operation's id (the one a stop signal cancels);
   * undefined for a scene it passed over.
   */
  run: (
    scene: S,
    index: number,
    started: (id: string) => void,
  ) => Promise<OperationResult | undefined>;
  /** Runs first, under the same stop signals (the demo recovers what an interrupted run left). */
  before?: () => Promise<void>;
}

export interface ScenesRun {
  results: OperationResult[];
  /** A stop signal ended the scenes early. */
  stopped: boolean;
}

/**
 * Runs scenes one after the other on a simulated world, then closes it. The first stop signal
 * cancels the operation running (it rolls back) and runs no more scenes; a second one leaves at
 * once, after the world has saved what it must (see `onStopSignals`). The demo and its history
 * both run this way.
 *
 * @example
 * ```ts
 * const { results, stopped } = await runScenes(world, io, 'alice', {
 *   scenes,
 *   expected: (scene) => scene,
 *   run: (scene, i, started) => runScene(scene, i + 1, started),
 * });
 * ```
 */
export const runScenes = async <S>(
  world: SimulatedWorld,
  io: CliIo,
  user: string,
  o: SceneRun<S>,
): Promise<ScenesRun> => {
  const results: OperationResult[] = [];
  let current: string | undefined;
  let stopped = false;
  const removeHandlers = onStopSignals(io, {
    stop: () => {
      stopped = true;
      if (current) void world.engine.cancel(current, { user }).catch(() => {});
    },
    leave: () => world.abandon(),
  });
  try {
    await o.before?.();
    let index = 0;
    for (const scene of o.scenes) {
      if (stopped) break;
      const result = await o.run(scene, index++, (id) => (current = id));
      if (!result) continue;
      results.push(result);
      // A scene a stop signal cancelled ends as cancelled, not as the scene shows.
      if (!stopped) checkScene(o.expected(scene), result, io);
    }
  } finally {
    removeHandlers();
    await world.close();
  }
  return { results, stopped };
};
