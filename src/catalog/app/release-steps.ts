import { outputOf, type StepDraft, type StepHandle } from '../../domain/operation-definition.js';
import type { StepContext, StepLog } from '../../domain/step.js';
import { AppStateError, RestoreImpossibleError } from './app-errors.js';
import type { Resolved } from './app-options.js';
import { containerIds, endpointOf, instanceOf, type AppTargetParams } from './app-target.js';
import { applyAll, persist } from './clean-up.js';
import { healthCheck, stopAndRemove } from './container-calls.js';
import { describeSpecs, type ContainerSpecData } from './container-specs.js';
import { assertOthersServe, describeTargets, targetsForUndo } from './endpoint-targets.js';
import { noSideEffects, undoable } from './step-kinds.js';
import {
  restoreContainer,
  sealSpecs,
  startExisting,
  type SealedContainerSpec,
} from './sealed-env.js';

/**
 * The building blocks of a zero-downtime release switch, shared by deploy, restart, scale,
 * configure and rollback (deprovision uses the last two): start new containers, check them,
 * register them, deregister the old ones (drain), stop the old ones. Each run reverts its own
 * partial work before throwing; each undo is idempotent and refuses to leave the endpoint without
 * a target. The old containers are recorded with their env sealed (see sealed-env.ts): outputs
 * are events, and env values hold secrets.
 */

export interface NewContainers {
  image: string;
  env: Record<string, string>;
  count: number;
}

export interface StartedOutput {
  ids: string[];
  image: string;
}

export interface OldOutput {
  old: SealedContainerSpec[];
}

/** What `registerStep` records: the containers it registered, and the targets before them. */
export interface RegisteredOutput {
  ids: string[];
  previous: string[];
}

/** The containers `start` started, none when it did not run. */
export const startedIds = (
  outputs: Readonly<Record<string, unknown>>,
  start: StepHandle<StartedOutput>,
): string[] => outputOf(outputs, start)?.ids ?? [];

/**
 * What a release switch deregisters: every target but the new containers `start` started (a
 * deploy, restart or configure replaces them all).
 */
export const allButStarted =
  (start: StepHandle<StartedOutput>) =>
  (ctx: { outputs: Readonly<Record<string, unknown>> }, targets: string[]): string[] => {
    const fresh = startedIds(ctx.outputs, start);
    return targets.filter((t) => !fresh.includes(t));
  };

/**
 * Whether a step applies to an operation's params. A step that does not apply is left out of
 * the plan (`when`), never run as a no-op: the log shows only the steps that do something.
 */
type Applies<P> = (params: P) => boolean;
const always = () => true;

/** Ids of this operation's containers that exist, probing n = 1, 2, ... (for unknown outcomes). */
const probeIds = async (r: Resolved, app: string, operationId: string): Promise<string[]> => {
  const found: string[] = [];
  for (let n = 1; ; n++) {
    const [id] = containerIds(app, operationId, n).slice(-1);
    if (!id || !(await r.infra.containers.describeContainer(id))) return found;
    found.push(id);
  }
};

export const startContainersStep = <P extends AppTargetParams>(
  r: Resolved,
  name: string,
  plan: (ctx: StepContext<P>) => Promise<NewContainers>,
  options: { endpointMode?: Applies<P> } = {},
): StepDraft<P, StartedOutput> =>
  undoable<P, StartedOutput>(r, {
    name,
    run: async (ctx) => {
      const { params: p, signal, operationId, log } = ctx;
      const wanted = await plan(ctx);
      const ids = containerIds(p.app, operationId, wanted.count);
      await applyAll(
        r,
        ids,
        (id) =>
          r.infra.containers.startContainer(
            { containerId: id, instanceId: instanceOf(p), image: wanted.image, env: wanted.env },
            { signal },
          ),
        (id) => stopAndRemove(r, id),
      );
      log(`Started ${ids.length} container(s) of ${wanted.image}: ${ids.join(', ')}`);
      return { ids, image: wanted.image };
    },
    undo: async ({ params: p, output, operationId, log }) => {
      const ids = output?.ids ?? (await probeIds(r, p.app, operationId));
      if (ids.length === 0) return;
      if ((options.endpointMode ?? always)(p)) {
        const targets = await targetsForUndo(r, endpointOf(p));
        const registered = ids.filter((id) => targets.includes(id));
        if (registered.length > 0) {
          throw new AppStateError(
            `containers ${registered.join(', ')} still serve on endpoint ${endpointOf(p)}: not stopping them`,
          );
        }
      }
      for (const id of ids) await stopAndRemove(r, id);
      log(`Stopped and removed ${ids.join(', ')}`);
    },
  });

export const healthCheckStep = <P extends AppTargetParams>(
  r: Resolved,
  start: StepHandle<StartedOutput>,
  settings: (p: P) => { strict: boolean; timeoutSeconds: number },
): StepDraft<P, { checked: string[] }> =>
  noSideEffects<P, { checked: string[] }>(
    { ...r, retry: { maxAttempts: 1 } },
    {
      name: 'health check',
      run: async ({ params, outputs, signal, log }) => {
        const ids = startedIds(outputs, start);
        await healthCheck(r, ids, settings(params), signal, log);
        return { checked: ids };
      },
    },
  );

export const registerStep = <P extends AppTargetParams>(
  r: Resolved,
  name: string,
  start: StepHandle<StartedOutput>,
  when?: Applies<P>,
): StepDraft<P, RegisteredOutput> =>
  undoable<P, RegisteredOutput>(r, {
    name,
    when,
    run: async ({ params: p, outputs, signal, log }) => {
      const ids = startedIds(outputs, start);
      const endpointId = endpointOf(p);
      const previous = await describeTargets(r, endpointId, signal);
      await applyAll(
        r,
        ids,
        (id) => r.infra.loadBalancer.registerTarget({ endpointId, containerId: id }, { signal }),
        (id) =>
          r.infra.loadBalancer.deregisterTarget({
            endpointId,
            containerId: id,
            drainMs: r.drainMs,
          }),
      );
      if (ids.length > 0) log(`Registered ${ids.join(', ')} on endpoint ${endpointId}`);
      return { ids, previous };
    },
    undo: async ({ params: p, output, operationId, log }) => {
      const endpointId = endpointOf(p);
      const ids = output?.ids ?? (await probeIds(r, p.app, operationId));
      if (ids.length === 0) return;
      if (!(await r.infra.loadBalancer.describeEndpoint(endpointId))) {
        log(`Endpoint ${endpointId} no longer exists: nothing to deregister`);
        return;
      }
      // A first release had nothing before it; otherwise never leave the endpoint empty.
      if (output === undefined || output.previous.length > 0) {
        await assertOthersServe(r, endpointId, ids);
      }
      for (const id of ids) {
        await r.infra.loadBalancer.deregisterTarget({
          endpointId,
          containerId: id,
          drainMs: r.drainMs,
        });
      }
      log(`Deregistered ${ids.join(', ')} from endpoint ${endpointId}`);
    },
  });

/**
 * After a crash mid-deregistration: whichever of `ids` are no longer targets are registered
 * again. The run had not stopped them (a later step does), so a container that is gone cannot
 * be brought back here, and says so.
 */
const registerAgain = async (r: Resolved, endpointId: string, ids: string[], log: StepLog) => {
  const targets = await describeTargets(r, endpointId);
  const missing = ids.filter((id) => !targets.includes(id));
  for (const id of missing) {
    const live = await r.infra.containers.describeContainer(id);
    if (!live) {
      throw new RestoreImpossibleError(
        `container ${id} no longer exists: it cannot be registered again on ${endpointId}`,
      );
    }
    await startExisting(r, live);
    await r.infra.loadBalancer.registerTarget({ endpointId, containerId: id });
  }
  if (missing.length > 0) log(`Registered ${missing.join(', ')} again on ${endpointId}`);
};

/**
 * The old targets of a release switch, from the records alone: those on the endpoint before
 * `register` added the new containers of `start`.
 */
export const oldTargetsRecorded =
  (register: StepHandle<RegisteredOutput>, start: StepHandle<StartedOutput>) =>
  (_params: unknown, outputs: Readonly<Record<string, unknown>>): string[] | undefined => {
    const registered = outputOf(outputs, register);
    if (!registered) return undefined;
    const fresh = startedIds(outputs, start);
    return registered.previous.filter((t) => !fresh.includes(t));
  };

/**
 * The targets that stay must answer before the ones leaving go: a new container that died after
 * its health check (killed, out of memory) would otherwise be all that serves once the old ones
 * are stopped. Load balancers route around a dead target for a while; they do not bring it back.
 */
const assertStayingAnswer = async (
  r: Resolved,
  targets: readonly string[],
  leaving: readonly string[],
  signal: AbortSignal,
) => {
  const silent: string[] = [];
  for (const id of targets.filter((t) => !leaving.includes(t))) {
    const health = await r.infra.containers.checkHealth({ containerId: id }, { signal });
    if (!health.healthy) silent.push(id);
  }
  if (silent.length > 0) {
    throw new AppStateError(
      `${silent.join(', ')} no longer answer${silent.length === 1 ? 's' : ''} on the endpoint: not deregistering ${leaving.join(', ')}`,
    );
  }
};

/**
 * Deregisters the targets `leaving` picks (with the drain period), recording them (env sealed)
 * so that the undo, or a later step's undo, can start and register them again. It refuses to
 * leave the endpoint empty unless `emptying` (deprovision), which also accepts an endpoint that
 * is already gone.
 */
export const deregisterStep = <P extends AppTargetParams>(
  r: Resolved,
  name: string,
  leaving: (ctx: StepContext<P>, targets: string[]) => string[],
  when?: Applies<P>,
  options: {
    emptying?: boolean;
    /**
     * What `leaving` picks, worked out from the earlier steps' recorded outputs alone: after a
     * crash mid-step (outcome unknown) the undo then registers those again. Without it, such an
     * undo fails and says to check the endpoint by hand.
     */
    recorded?: (params: P, outputs: Readonly<Record<string, unknown>>) => string[] | undefined;
  } = {},
): StepDraft<P, OldOutput> =>
  undoable<P, OldOutput>(r, {
    name,
    when,
    run: async (ctx) => {
      const { params: p, signal, log } = ctx;
      const endpointId = endpointOf(p);
      if (
        options.emptying &&
        !(await r.infra.loadBalancer.describeEndpoint(endpointId, { signal }))
      ) {
        log(`Endpoint ${endpointId} does not exist: no target to deregister`);
        return { old: [] };
      }
      const targets = await describeTargets(r, endpointId, signal);
      const ids = leaving(ctx, targets);
      if (ids.length === 0) return { old: [] };
      if (!options.emptying && targets.every((t) => ids.includes(t))) {
        throw new AppStateError(`deregistering ${ids.join(', ')} would leave ${endpointId} empty`);
      }
      if (!options.emptying) await assertStayingAnswer(r, targets, ids, signal);
      const specs = await describeSpecs(r, ids, signal);
      const register = (id: string) =>
        r.infra.loadBalancer.registerTarget({ endpointId, containerId: id });
      await applyAll(
        r,
        ids,
        (id) =>
          r.infra.loadBalancer.deregisterTarget(
            { endpointId, containerId: id, drainMs: r.drainMs },
            { signal },
          ),
        register,
      );
      log(
        `Deregistered ${ids.join(', ')} from endpoint ${endpointId}, their requests in flight drained (drain period ${r.drainMs / 1000} s)`,
      );
      // Sealed after the drain, so that sealing never delays it; a failure puts them back.
      let old: SealedContainerSpec[];
      try {
        old = await sealSpecs(r, p.app, specs, signal);
      } catch (error) {
        for (const id of [...ids].reverse()) await persist(r.clock, () => register(id));
        throw error;
      }
      return { old };
    },
    undo: async ({ params: p, output, outputs, log }) => {
      if (!output) {
        const ids = options.recorded?.(p, outputs);
        if (!ids) {
          throw new AppStateError(
            'the deregistered targets are unknown (outcome unknown): check the endpoint by hand',
          );
        }
        await registerAgain(r, endpointOf(p), ids, log);
        return;
      }
      const endpointId = endpointOf(p);
      if (output.old.length === 0) return;
      if (!(await r.infra.loadBalancer.describeEndpoint(endpointId))) {
        throw new RestoreImpossibleError(
          `endpoint ${endpointId} no longer exists: ${output.old.map((s) => s.id).join(', ')} cannot be registered again`,
        );
      }
      for (const spec of output.old) {
        await restoreContainer(r, p.app, spec);
        await r.infra.loadBalancer.registerTarget({ endpointId, containerId: spec.id });
      }
      log(`Registered ${output.old.map((s) => s.id).join(', ')} again on ${endpointId}`);
    },
  });

/**
 * Stops and removes containers (SIGTERM, SIGKILL after the stop timeout); undo starts them again,
 * from their record when they were removed. `which` gives them recorded (see sealSpecs).
 */
export const stopContainersStep = <P extends AppTargetParams>(
  r: Resolved,
  name: string,
  which: (ctx: StepContext<P>) => Promise<SealedContainerSpec[]>,
  /**
   * What `which` gives, worked out from the params and the earlier steps' recorded outputs
   * alone, when it can be: after a crash mid-step (outcome unknown, no output of its own) the
   * undo then still knows which containers to start again. Undefined: it cannot be known.
   */
  recorded?: (
    params: P,
    outputs: Readonly<Record<string, unknown>>,
  ) => SealedContainerSpec[] | undefined,
  when?: Applies<P>,
): StepDraft<P, OldOutput> =>
  undoable<P, OldOutput>(r, {
    name,
    when,
    run: async (ctx) => {
      const old = await which(ctx);
      const byId = new Map(old.map((s) => [s.id, s]));
      await applyAll(
        r,
        old.map((s) => s.id),
        (id) => stopAndRemove(r, id, ctx.signal),
        (id) => restoreContainer(r, ctx.params.app, byId.get(id) as SealedContainerSpec),
      );
      if (old.length > 0) ctx.log(`Stopped and removed ${old.map((s) => s.id).join(', ')}`);
      return { old };
    },
    undo: async ({ params: p, output, outputs, log }) => {
      const old = output?.old ?? recorded?.(p, outputs);
      if (!old) {
        throw new AppStateError('the stopped containers are unknown (outcome unknown)');
      }
      // Idempotent: a container the crashed run never stopped is left as it is.
      for (const spec of old) await restoreContainer(r, p.app, spec);
      if (old.length > 0) log(`Started ${old.map((s) => s.id).join(', ')} again`);
    },
  });

/** The old containers a release-switch step (a deregistration or a stop) recorded. */
export const recordedOld = (
  outputs: Readonly<Record<string, unknown>>,
  from: StepHandle<OldOutput>,
): SealedContainerSpec[] => outputOf(outputs, from)?.old ?? [];

/**
 * The final stop of a release switch: the old containers that step `from` (their
 * deregistration) recorded. Known from the records alone, so its undo works after a crash too.
 */
export const stopRecordedStep = <P extends AppTargetParams>(
  r: Resolved,
  name: string,
  from: StepHandle<OldOutput>,
  when?: Applies<P>,
): StepDraft<P, OldOutput> =>
  stopContainersStep<P>(
    r,
    name,
    async (ctx) => recordedOld(ctx.outputs, from),
    (_params, outputs) => recordedOld(outputs, from),
    when,
  );

/**
 * A whole release switch after `start`: check the new containers, register them (step
 * `registerName`), deregister every other target with the drain, stop those. A deploy, a
 * restart and a configure differ only in what `start` starts. `when` leaves the steps that need
 * an endpoint out of a plan (the health check applies to every service).
 */
export const replaceAllAfter = <P extends AppTargetParams>(
  r: Resolved,
  start: StepDraft<P, StartedOutput>,
  options: {
    registerName: string;
    health: (p: P) => { strict: boolean; timeoutSeconds: number };
    when?: Applies<P>;
  },
): StepDraft<P>[] => {
  const register = registerStep<P>(r, options.registerName, start, options.when);
  const deregister = deregisterStep<P>(
    r,
    'deregister old targets',
    allButStarted(start),
    options.when,
    { recorded: oldTargetsRecorded(register, start) },
  );
  return [
    start,
    healthCheckStep<P>(r, start, options.health),
    register,
    deregister,
    stopRecordedStep<P>(r, 'stop old containers', deregister, options.when),
  ];
};

/** Live containers (those of `ids` that exist), recorded with their env sealed. */
export const recordExisting = async (
  r: Resolved,
  app: string,
  ids: readonly string[],
  signal: AbortSignal,
): Promise<SealedContainerSpec[]> => {
  const existing: string[] = [];
  for (const id of ids) {
    if (await r.infra.containers.describeContainer(id, { signal })) existing.push(id);
  }
  return sealSpecs(r, app, await describeSpecs(r, existing, signal), signal);
};

/** The release serving now, which must exist (restart and scale act on it). */
export const runningRelease = async <P extends AppTargetParams>(
  r: Resolved,
  ctx: StepContext<P>,
) => {
  const { specs } = await currentRelease(r, ctx);
  const [first] = specs;
  if (!first) throw new AppStateError(`app ${ctx.params.app} has no running release`);
  return { specs, first };
};

export const currentRelease = async <P extends AppTargetParams>(
  r: Resolved,
  ctx: StepContext<P>,
): Promise<{ targets: string[]; specs: ContainerSpecData[] }> => {
  const targets = await describeTargets(r, endpointOf(ctx.params), ctx.signal);
  return { targets, specs: await describeSpecs(r, targets, ctx.signal) };
};
