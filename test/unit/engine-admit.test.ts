import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createEngine,
  createInMemoryEventStore,
  defineOperation,
  InvalidDefinitionError,
  InvalidParamsError,
  OpledgerError,
  step,
  type AdmitContext,
} from '../../src/index.js';
import { type Upcaster } from '../../src/domain/index.js';
import { createSequentialIds, createVirtualClock } from '../../src/testing/index.js';
import { request, setup } from '../support/fixtures.js';

class NotNowError extends OpledgerError {
  constructor() {
    super('NOT_NOW', 'Not now: try again later.');
  }
}

const deployWith = (
  admit: (ctx: AdmitContext<{ image: string; count: number }>) => Promise<void> | void,
) =>
  defineOperation<{ image: string; count: number }>({
    type: 'deploy',
    params: z.object({ image: z.string(), count: z.number().default(1) }),
    admit,
    steps: [step({ name: 'start', kind: 'no_side_effects', run: () => null })],
  });

describe("an operation's admit", () => {
  it('sees the request with its parsed params, the store and the upcasters, before anything is recorded', async () => {
    const seen: AdmitContext<{ image: string; count: number }>[] = [];
    const store = createInMemoryEventStore();
    const upcasters: Upcaster[] = [];
    let headWhenAsked: bigint | undefined;
    const deploy = deployWith(async (ctx) => {
      seen.push(ctx);
      headWhenAsked = await ctx.store.headPosition();
    });
    const engine = createEngine({
      store,
      operations: [deploy],
      clock: createVirtualClock(),
      ids: createSequentialIds('op-'),
      upcasters,
    });
    const handle = await engine.start(request({ params: { image: 'web:v2' } }));
    expect((await handle.result).status).toBe('succeeded');
    expect(seen).toEqual([
      {
        type: 'deploy',
        environment: 'production',
        resource: { type: 'app', handle: 'web' },
        user: 'ada@example.com',
        params: { image: 'web:v2', count: 1 },
        store,
        upcasters,
      },
    ]);
    expect(headWhenAsked).toBe(0n);
  });

  it('refuses a request by throwing: start rejects with that error and the store stays empty', async () => {
    const { engine, store } = setup([
      deployWith(() => {
        throw new NotNowError();
      }),
    ]);
    await expect(engine.start(request({ params: { image: 'web:v2' } }))).rejects.toBeInstanceOf(
      NotNowError,
    );
    await expect(
      engine.start(request({ params: { image: 'web:v2' }, idempotencyKey: 'k' })),
    ).rejects.toMatchObject({ code: 'NOT_NOW' });
    expect(await store.headPosition()).toBe(0n);
  });

  it('is not asked about params that do not match the schema', async () => {
    let asked = 0;
    const { engine } = setup([deployWith(() => void asked++)]);
    await expect(engine.start(request({ params: { image: 3 } }))).rejects.toBeInstanceOf(
      InvalidParamsError,
    );
    expect(asked).toBe(0);
  });

  it('must be a function', () => {
    expect(() =>
      defineOperation({
        type: 'deploy',
        admit: 'yes' as never,
        steps: [step({ name: 'start', kind: 'no_side_effects', run: () => null })],
      }),
    ).toThrow(InvalidDefinitionError);
  });
});
