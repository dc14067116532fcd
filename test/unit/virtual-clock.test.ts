import { describe, expect, it } from 'vitest';
import { createVirtualClock } from '../../src/testing/index.js';

describe('createVirtualClock(start)', () => {
  it('starts at the time given, as a string or a Date, and at 2026-01-05 (a Monday) by default', () => {
    expect(createVirtualClock('2026-03-02T09:00:00.000Z').now().toISOString()).toBe(
      '2026-03-02T09:00:00.000Z',
    );
    expect(
      createVirtualClock(new Date(Date.UTC(2027, 0, 1)))
        .now()
        .toISOString(),
    ).toBe('2027-01-01T00:00:00.000Z');
    const byDefault = createVirtualClock().now();
    expect(byDefault.toISOString()).toBe('2026-01-05T00:00:00.000Z');
    expect(byDefault.getUTCDay()).toBe(1);
  });

  it('moves only by sleeps (recorded) and advance (not recorded)', async () => {
    const clock = createVirtualClock('2026-03-02T09:00:00.000Z');
    await clock.sleep(1_500);
    clock.advance(500);
    expect(clock.now().toISOString()).toBe('2026-03-02T09:00:02.000Z');
    expect(clock.sleeps).toEqual([1_500]);
  });
});
