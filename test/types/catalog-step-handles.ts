// Compile-time checks that the catalog's steps read each other's outputs through typed handles
// (issue 15, item 4): a step factory takes the earlier step's draft, not its name, so a handle
// of the wrong step, an untyped draft or a bare name is a compile error. Nothing here runs:
// `npm run typecheck` compiles it, and every `@ts-expect-error` fails that compile if its line
// stops being an error.
import { outputOf, type StepDraft, type StepHandle } from '../../src/index.js';
import type { Resolved } from '../../src/catalog/app/app-options.js';
import type { AppRestartParams } from '../../src/catalog/app/restart.js';
import type { AppScaleParams } from '../../src/catalog/app/scale.js';
import {
  allButStarted,
  deregisterStep,
  healthCheckStep,
  oldTargetsRecorded,
  recordedOld,
  registerStep,
  startContainersStep,
  startedIds,
  stopRecordedStep,
} from '../../src/catalog/app/release-steps.js';
import type { SealedContainerSpec } from '../../src/catalog/app/sealed-env.js';
import {
  inspectPlacement,
  mountVolume,
  placementOf,
} from '../../src/catalog/database/placement.js';
import type { InfrastructurePort } from '../../src/catalog/infrastructure-port.js';
import type { DatabaseRedeployParams } from '../../src/catalog/database/redeploy.js';

declare const r: Resolved;
declare const infra: InfrastructurePort;
declare const outputs: Readonly<Record<string, unknown>>;
const assertType = <T>(value: T): T => value;
type P = AppRestartParams;

const start = startContainersStep<P>(r, 'start', async () => ({ image: 'a', env: {}, count: 1 }));
const register = registerStep<P>(r, 'register', start);
const deregister = deregisterStep<P>(r, 'deregister', allButStarted(start));
const health = (p: P) => ({ strict: p.strictHealthCheck, timeoutSeconds: 1 });

// Each factory's draft carries its output type, read back through the handle.
assertType<string[]>(startedIds(outputs, start));
assertType<string[] | undefined>(outputOf(outputs, register)?.previous);
assertType<SealedContainerSpec[]>(recordedOld(outputs, deregister));
// @ts-expect-error a register step records ids and previous targets, no old containers
void outputOf(outputs, register)?.old;
// @ts-expect-error the started ids are strings
assertType<number[]>(startedIds(outputs, start));

// The right handles are accepted, also from an operation with other params (only the name is read).
healthCheckStep<P>(r, start, health);
stopRecordedStep<P>(r, 'stop', deregister);
oldTargetsRecorded(register, start);
const scaleStart = startContainersStep<AppScaleParams>(r, 's', async () => ({
  image: 'a',
  env: {},
  count: 1,
}));
healthCheckStep<P>(r, scaleStart, health);

// A step name as a string is no longer a way to point at a step.
// @ts-expect-error a name, not a handle
healthCheckStep<P>(r, 'start', health);
// @ts-expect-error a name, not a handle
registerStep<P>(r, 'register', 'start');
// @ts-expect-error a name, not a handle
stopRecordedStep<P>(r, 'stop', 'deregister');

// A handle of the wrong step, with another output, is refused.
// @ts-expect-error the deregister step's output has no started ids
healthCheckStep<P>(r, deregister, health);
// @ts-expect-error the start step recorded no old containers
stopRecordedStep<P>(r, 'stop', start);
// @ts-expect-error register and start swapped
oldTargetsRecorded(start, register);
// @ts-expect-error the register step recorded no old containers
recordedOld(outputs, register);

// A draft whose output type was erased cannot stand for a typed step.
declare const untyped: StepDraft<P>;
// @ts-expect-error an untyped draft: its output could be anything
healthCheckStep<P>(r, untyped, health);
// @ts-expect-error an untyped draft: its output could be anything
startedIds(outputs, untyped);

// The database steps read the placement through the inspect step's handle.
const inspect = inspectPlacement<DatabaseRedeployParams>(infra);
assertType<string | null>(placementOf(outputs, inspect).mountPath);
mountVolume<DatabaseRedeployParams>(infra, inspect);
// @ts-expect-error a start step's output is no placement
placementOf(outputs, start);
// @ts-expect-error mounting needs the inspect step's handle
mountVolume<DatabaseRedeployParams>(infra);

// A user's own factory types the earlier step it reads as a StepHandle, as the catalog does.
const imageOf = (earlier: StepHandle<{ image: string }>) => (o: typeof outputs) =>
  outputOf(o, earlier)?.image;
assertType<string | undefined>(imageOf(start)(outputs));
// @ts-expect-error a register step's output has no image
imageOf(register);
