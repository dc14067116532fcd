// Compile-time checks of the types a user writes operations with (issue 15, item 4). Nothing
// here runs: `npm run typecheck` (tsc -p tsconfig.json, which includes test/) compiles it in
// .ci/run, and every `@ts-expect-error` fails that compile if its line stops being an error.
import { z } from 'zod';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  outputOf,
  step,
  type Engine,
} from '../../src/index.js';

const assertType = <T>(value: T): T => value;

// a. Params are inferred from the Standard Schema, and the inline steps are checked against it.
const deploy = defineOperation({
  type: 'deploy',
  params: z.object({ image: z.string(), replicas: z.number().default(1) }),
  steps: [
    step({
      name: 'pull image',
      run: ({ params }) => {
        assertType<string>(params.image);
        assertType<number>(params.replicas); // the schema's output: the default is applied
        return { image: params.image, registry: 'quay' };
      },
      undo: ({ output }) => {
        // b. The run's return type is the undo's output.
        assertType<{ image: string; registry: string } | undefined>(output);
        // @ts-expect-error the output has no such field
        void output?.tag;
      },
    }),
    step({
      name: 'check',
      kind: 'no_side_effects',
      // @ts-expect-error the schema has no param 'img'
      run: ({ params }) => void params.img,
    }),
  ],
});
assertType<'deploy'>(deploy.type);

// b. Giving only the params type: step<P>() then the spec, and the output is still inferred.
interface Started {
  ids: string[];
}
const startContainers = step<{ app: string }>()({
  name: 'start containers',
  run: async ({ params }): Promise<Started> => ({ ids: [params.app] }), // an interface is fine
  undo: ({ output }) => {
    assertType<string[] | undefined>(output?.ids);
    // @ts-expect-error ids are strings, not numbers
    assertType<number[] | undefined>(output?.ids);
  },
});
// d. A later step reads an earlier step's output through its draft, typed.
step<{ app: string }>()({
  name: 'register containers',
  kind: 'irreversible',
  run: ({ outputs }) => {
    assertType<string[] | undefined>(outputOf(outputs, startContainers)?.ids);
    // @ts-expect-error the output of start containers has no 'old'
    void outputOf(outputs, startContainers)?.old;
    return null;
  },
});

// e. A run's output must be JSON data, as the run-time check in step-attempt.ts demands.
step({ name: 'json', kind: 'no_side_effects', run: () => ({ a: [1, 'b', null], b: undefined }) });
step({ name: 'nothing', kind: 'no_side_effects', run: async () => undefined });
// @ts-expect-error a Date is not JSON
step({ name: 'date', kind: 'no_side_effects', run: () => ({ at: new Date() }) });
// @ts-expect-error a function is not JSON
step({ name: 'fn', kind: 'no_side_effects', run: async () => ({ stop: () => undefined }) });
// @ts-expect-error a bigint is not JSON
step({ name: 'bigint', kind: 'no_side_effects', run: () => 1n });
// @ts-expect-error a Map is not JSON
step({ name: 'map', kind: 'no_side_effects', run: () => new Map<string, string>() });
// @ts-expect-error undefined in an array is refused at run time too
step({ name: 'hole', kind: 'no_side_effects', run: () => [1, undefined] });

// c. start is typed from the engine's definitions.
const engine = createEngine({ store: createInMemoryEventStore(), operations: [deploy] });
const request = {
  environment: 'production',
  resource: { type: 'app', handle: 'web' },
  user: 'ada',
};
void engine.start({ ...request, type: 'deploy', params: { image: 'web:2' } });
void engine.start({ ...request, type: 'deploy', params: { image: 'web:2', replicas: 3 } });
// @ts-expect-error a misspelled type
void engine.start({ ...request, type: 'deplyo', params: { image: 'web:2' } });
// @ts-expect-error a param of the wrong type
void engine.start({ ...request, type: 'deploy', params: { image: 2 } });
// @ts-expect-error a misspelled param (image is required)
void engine.start({ ...request, type: 'deploy', params: { imagee: 'web:2' } });
// @ts-expect-error the params are required when the schema requires some
void engine.start({ ...request, type: 'deploy' });
// A type only known at run time (as the CLI reads it) is taken, and checked at run time.
const typeFromArgv: string = process.argv[2] ?? 'deploy';
void engine.start({ ...request, type: typeFromArgv, params: {} });
// A typed engine is an Engine, which takes any request.
const untyped: Engine = engine;
void untyped.start({ ...request, type: 'anything', params: { any: 1 } });
