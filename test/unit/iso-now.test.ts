import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isoNow, systemClock } from '../../src/engine/clock.js';

describe('isoNow(clock)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("formats the system clock's time (Date.now, no Date per call) as toISOString does, at every call", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 8.64e15 }), { minLength: 1, maxLength: 30 }),
        (times) => {
          let i = 0;
          vi.spyOn(Date, 'now').mockImplementation(() => times[i]!);
          const now = isoNow(systemClock);
          for (; i < times.length; i++) expect(now()).toBe(new Date(times[i]!).toISOString());
          vi.restoreAllMocks();
        },
      ),
    );
  });

  it("formats the clock's time as toISOString does, at every call, whatever the clock did between", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -8.64e15, max: 8.64e15 }), { minLength: 1, maxLength: 30 }),
        (times) => {
          let i = 0;
          const clock = { now: () => new Date(times[i]!) };
          const now = isoNow(clock);
          for (; i < times.length; i++) expect(now()).toBe(new Date(times[i]!).toISOString());
        },
      ),
    );
  });

  it('throws for an invalid date, as toISOString does, also after a valid one', () => {
    let ms = 0;
    const now = isoNow({ now: () => new Date(ms) });
    expect(now()).toBe('1970-01-01T00:00:00.000Z');
    ms = Number.NaN;
    expect(() => now()).toThrow(RangeError);
    expect(() => now()).toThrow(RangeError);
  });

  it('is one formatter per clock: runs on one clock share it', () => {
    const clock = { now: () => new Date(0) };
    expect(isoNow(clock)).toBe(isoNow(clock));
    expect(isoNow({ now: () => new Date(0) })).not.toBe(isoNow(clock));
  });
});
