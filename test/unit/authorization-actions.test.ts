import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  AccessDeniedError,
  type AccessAction,
  type Authorize,
  type ReadAccessAction,
  type ReadAction,
  type WriteAccessAction,
} from '../../src/index.js';
import { ensureAllowed } from '../../src/domain/authorization.js';

// Type-level: checked by `tsc -p tsconfig.json` (test/ is in it), so a union that mixes the
// write back into the reads fails the type-check.
describe('access actions', () => {
  it('reads and writes are apart; authorize is asked about both', () => {
    expectTypeOf<WriteAccessAction>().toEqualTypeOf<'operation:cancel'>();
    expectTypeOf<'operation:cancel'>().not.toExtend<ReadAccessAction>();
    expectTypeOf<AccessAction>().toEqualTypeOf<ReadAccessAction | WriteAccessAction>();
    expectTypeOf<Parameters<Authorize>[1]>().toEqualTypeOf<AccessAction>();
    // The deprecated name keeps meaning what it always held, so its users still compile.
    expectTypeOf<ReadAction>().toEqualTypeOf<AccessAction>();
  });

  it('a denied write is refused like a denied read', async () => {
    const asked: AccessAction[] = [];
    const authorize: Authorize = (_actor, action) => {
      asked.push(action);
      return action !== 'operation:cancel';
    };
    await ensureAllowed(authorize, 'ada', 'operation:read', { environment: 'production' });
    await expect(
      ensureAllowed(authorize, 'ada', 'operation:cancel', { environment: 'production' }),
    ).rejects.toBeInstanceOf(AccessDeniedError);
    expect(asked).toEqual(['operation:read', 'operation:cancel']);
  });
});
