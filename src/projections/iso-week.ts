import { OpledgerError } from '../domain/errors.js';

export class InvalidWeekError extends OpledgerError {
  constructor(week: string) {
    super(
      'INVALID_WEEK',
      `'${week}' is not an ISO week: write it as YYYY-Www, e.g. 2026-W05 (weeks 01 to 52, or 53 in long years).`,
    );
  }
}

const DAY = 86_400_000;

/** Monday 00:00 UTC of ISO week 1 of `year`: the week holding the year's first Thursday. */
const week1Monday = (year: number): number => {
  const jan4 = Date.UTC(year, 0, 4);
  const weekday = (new Date(jan4).getUTCDay() + 6) % 7; // Monday = 0
  return jan4 - weekday * DAY;
};

const weeksIn = (year: number) =>
  Math.round((week1Monday(year + 1) - week1Monday(year)) / (7 * DAY));

/**
 * The ISO week (UTC) holding an instant, as 'YYYY-Www'.
 *
 * @example
 * ```ts
 * import { isoWeekOf } from 'opledger/projections';
 *
 * isoWeekOf('2026-01-01T12:00:00Z'); // '2026-W01'
 * ```
 */
export const isoWeekOf = (instant: string | Date): string => {
  const t = new Date(instant).getTime();
  const day = Math.floor(t / DAY) * DAY;
  const thursday = day + (3 - ((new Date(day).getUTCDay() + 6) % 7)) * DAY;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - week1Monday(year)) / (7 * DAY)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
};

/**
 * [from, to) of an ISO week, as ISO 8601 UTC instants.
 *
 * @example
 * ```ts
 * import { isoWeekRange } from 'opledger/projections';
 *
 * isoWeekRange('2026-W01'); // { from: '2025-12-29T00:00:00.000Z', to: '2026-01-05T00:00:00.000Z' }
 * ```
 */
export const isoWeekRange = (week: string): { from: string; to: string } => {
  const match = /^(\d{4})-W(\d{2})$/.exec(week);
  if (!match) throw new InvalidWeekError(week);
  const year = Number(match[1]);
  const n = Number(match[2]);
  if (n < 1 || n > weeksIn(year)) throw new InvalidWeekError(week);
  const from = week1Monday(year) + (n - 1) * 7 * DAY;
  return { from: new Date(from).toISOString(), to: new Date(from + 7 * DAY).toISOString() };
};

/** Every ISO week from the one holding `first` to the one holding `last`, oldest first. */
export const isoWeeksBetween = (first: string, last: string): string[] => {
  const weeks: string[] = [];
  let { from } = isoWeekRange(isoWeekOf(first));
  const end = isoWeekRange(isoWeekOf(last)).from;
  while (from <= end) {
    weeks.push(isoWeekOf(from));
    from = new Date(new Date(from).getTime() + 7 * DAY).toISOString();
  }
  return weeks;
};
