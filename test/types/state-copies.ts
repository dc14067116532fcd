// Compile-time checks that a copy of the Operation state cannot silently lose a field (issue 15,
// item 3). Nothing here runs: `npm run typecheck` compiles it, and every `@ts-expect-error` fails
// that compile if its line stops being an error.
import type { EachOptionalField, OperationState, StepRecord } from '../../src/domain/operation.js';

interface Sample {
  kept: string;
  maybe?: number;
  anything?: unknown;
  orUndefined: string | undefined;
}

// EachOptionalField names the optional fields, and only them.
const sample: EachOptionalField<Sample> = { maybe: undefined, anything: undefined };
// @ts-expect-error an optional field left out of a copy fails the build
const sampleMissing: EachOptionalField<Sample> = { maybe: undefined };
// @ts-expect-error a required field is not one of its entries: the state's own literal checks it
const sampleRequired: EachOptionalField<Sample> = { ...sample, kept: undefined };

// The state: a copy of it that leaves out 'effects' (the last field added before this check) or
// a step's 'outcomeUnknown' does not compile.
// @ts-expect-error 'effects' is missing
const stateMissing: EachOptionalField<OperationState> = {
  idempotencyKey: undefined,
  lifecycle: undefined,
  startedAt: undefined,
  finishedAt: undefined,
  cancelledBy: undefined,
  inFlight: undefined,
  failure: undefined,
  lastEventAt: undefined,
};
// @ts-expect-error 'outcomeUnknown' is missing
const stepMissing: EachOptionalField<StepRecord> = {
  provider: undefined,
  output: undefined,
  completedAs: undefined,
};

export { sample, sampleMissing, sampleRequired, stateMissing, stepMissing };
