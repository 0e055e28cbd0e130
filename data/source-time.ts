/**
 * Time as the generator needs it: production-day windows as epoch milliseconds (instants, so adding
 * a duration is plain addition and DST cannot bite), and instants written the way an MES stores them.
 * Every instant-to-wall-clock conversion goes through luxon; the production-day definition is the
 * ETL's own (etl/periods.ts), so the generator and the reports agree on which day a row belongs to.
 */
import { DateTime, IANAZone } from 'luxon';
import { addDays, dayStartInstant, type PlantClock } from '../etl/periods.js';

export type TimestampMode = 'utc' | 'local';

/** One production day: [from, to) in epoch milliseconds. */
export interface DayWindow {
  /** Local date of the production day, 'YYYY-MM-DD'. */
  date: string;
  /** ISO weekday of that date, 1 = Monday. */
  weekday: number;
  from: number;
  to: number;
}

export function productionDayWindows(start: string, days: number, clock: PlantClock): DayWindow[] {
  const out: DayWindow[] = [];
  let from = dayStartInstant(start, clock).toMillis();
  for (let i = 0; i < days; i++) {
    const date = addDays(start, i);
    const to = dayStartInstant(addDays(date, 1), clock).toMillis();
    out.push({ date, weekday: DateTime.fromISO(date, { zone: 'UTC' }).weekday, from, to });
    from = to;
  }
  return out;
}

/** Production days during which the plant zone changes its UTC offset (they last 23 or 25 hours). */
export function dstChangeDays(windows: readonly DayWindow[], timezone: string): string[] {
  const zone = IANAZone.create(timezone);
  return windows.filter((w) => zone.offset(w.from) !== zone.offset(w.to)).map((w) => w.date);
}

/** Index of the window containing `ms`, or -1. */
export function windowIndexOf(windows: readonly DayWindow[], ms: number): number {
  let lo = 0;
  let hi = windows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const w = windows[mid]!;
    if (ms < w.from) hi = mid - 1;
    else if (ms >= w.to) lo = mid + 1;
    else return mid;
  }
  return -1;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));

/**
 * Writes instants as 'YYYY-MM-DD HH:MM:SS.SSS': UTC wall-clock, or naive plant-local wall-clock
 * (in the fall-back hour the local texts repeat, as they do in a real MES).
 *
 * Zone conversion per row costs ~10 µs in luxon, which is most of the generator's time at a
 * million rows, so the 'YYYY-MM-DD HH:MM' part is converted once per minute and cached: UTC offsets
 * are whole minutes, so seconds and milliseconds are the same in every zone.
 */
export function sourceTimeFormatter(mode: TimestampMode, timezone: string): (ms: number) => string {
  const zone = mode === 'utc' ? 'UTC' : timezone;
  const minutes = new Map<number, string>();
  return (instant) => {
    const ms = Math.round(instant);
    const minute = Math.floor(ms / 60_000);
    let prefix = minutes.get(minute);
    if (prefix === undefined) {
      // Bounded memory for long ranges; the generator's accesses are mostly local in time.
      if (minutes.size >= 200_000) minutes.clear();
      prefix = DateTime.fromMillis(minute * 60_000, { zone }).toFormat('yyyy-MM-dd HH:mm');
      minutes.set(minute, prefix);
    }
    const within = ms - minute * 60_000;
    return `${prefix}:${pad2(Math.floor(within / 1000))}.${pad3(within % 1000)}`;
  };
}

/** A local date 'YYYY-MM-DD' as 'yyMMdd', for ids such as lot numbers. */
export function compactDate(date: string): string {
  return date.slice(2, 4) + date.slice(5, 7) + date.slice(8, 10);
}
