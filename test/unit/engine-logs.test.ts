import { firstValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { defineOperation, step, type LogLine } from '../../src/index.js';
import { allLines, request, setup, until } from '../support/fixtures.js';
import { createGate } from '../support/gate.js';

describe('engine.logs', () => {
  it('gives every subscriber, early or late, the same lines: so far, then live, then completes', async () => {
    const gate = createGate();
    const op = defineOperation({
      type: 'deploy',
      steps: [
        step({
          name: 'build',
          kind: 'no_side_effects',
          run: async ({ log }) => {
            log('compiling');
            await gate.wait();
            log('done', 'warn');
          },
        }),
      ],
    });
    const { engine } = setup([op]);
    const handle = await engine.start(request());
    const early = allLines(handle);
    await until(() => gate.entered);
    const live: LogLine[] = [];
    let completed = false;
    engine
      .logs(handle.id)
      .subscribe({ next: (l) => live.push(l), complete: () => (completed = true) });
    await until(() => live.some((l) => l.message === 'compiling'));
    expect(completed).toBe(false);
    const before = live.length;
    gate.open();
    await handle.result;
    await until(() => completed);
    expect(live.length).toBeGreaterThan(before);
    const late = await firstValueFrom(engine.logs(handle.id).pipe(toArray()));
    expect(await early).toEqual(late);
    expect(live).toEqual(late);
    expect(late.map((l) => [l.level, l.step, l.message])).toEqual([
      [
        'info',
        undefined,
        'Operation deploy requested by ada@example.com on app web in environment production',
      ],
      ['info', undefined, 'Operation started'],
      ['info', 'build', "Step 'build' started"],
      ['info', 'build', 'compiling'],
      ['warn', 'build', 'done'],
      ['info', 'build', "Step 'build' succeeded"],
      ['info', undefined, 'Operation succeeded'],
    ]);
    expect(late.map((l) => l.revision)).toEqual(
      [...late.map((l) => l.revision)].sort((a, b) => a - b),
    );
    expect(new Set(late.map((l) => l.operationId))).toEqual(new Set([handle.id]));
  });

  it('errors with a typed not-found error for an unknown operation', async () => {
    const op = defineOperation({
      type: 'x',
      steps: [step({ name: 'a', kind: 'no_side_effects', run: () => 1 })],
    });
    const { engine } = setup([op]);
    await expect(firstValueFrom(engine.logs('nope'))).rejects.toMatchObject({
      code: 'OPERATION_NOT_FOUND',
    });
    await expect(engine.result('nope')).rejects.toMatchObject({ code: 'OPERATION_NOT_FOUND' });
  });
});
