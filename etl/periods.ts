/**
 * Production days and ISO weeks in plant time (metrics.md §2).
 *
 * A production day D is [D at dayStart, D+1 at dayStart) in the plant's zone, so on DST change
 * days it lasts 23 or 25 hours. A week is the ISO week, Monday at dayStart to the next Monday at
 * dayStart, labelled with its ISO week-year (`2026-W53`).
 */
import { DateTime } from 'luxon';

export type PeriodType = 'day' | 'week';

export interface PlantClock {
  timezone: string;
  /** 'HH:MM' */
  dayStart: string;
}

export interface Period {
  type: PeriodType;
  /** Local date of the day, or the Monday of the week: 'YYYY-MM-DD'. */
  start: string;
  /** '2026-11-20' or '2026-W47'. */
  label: string;
  /** First instant of the period, in the plant zone. */
  from: DateTime;
  /** First instant after the period. */
  to: DateTime;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function parseDate(date: string): DateTime {
  const d = DATE.test(date) ? DateTime.fromISO(date, { zone: 'UTC' }) : DateTime.invalid('format');
  if (!d.isValid) throw new Error(`expected a date YYYY-MM-DD, got '${date}'`);
  return d;
}

/** The instant at which production day `date` starts. */
export function dayStartInstant(date: string, clock: PlantClock): DateTime {
  parseDate(date);
  const t = DateTime.fromISO(`${date}T${clock.dayStart}`, { zone: clock.timezone });
  if (!t.isValid) throw new Error(`cannot place ${date} ${clock.dayStart} in ${clock.timezone}: ${t.invalidExplanation}`);
  // A dayStart inside a spring-forward gap does not exist that day; luxon moves it forward by the gap,
  // which is also where the clock on the wall jumps to.
  return t;
}

/** Whole days from `a` to `b` (YYYY-MM-DD), negative when b is earlier. */
export function daysBetween(a: string, b: string): number {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);
}

export function addDays(date: string, n: number): string {
  return parseDate(date).plus({ days: n }).toISODate()!;
}

export function productionDay(date: string, clock: PlantClock): Period {
  return {
    type: 'day',
    start: date,
    label: date,
    from: dayStartInstant(date, clock),
    to: dayStartInstant(addDays(date, 1), clock),
  };
}

/** Monday (local date) of the ISO week containing `date`. */
export function weekMonday(date: string): string {
  const d = parseDate(date);
  return d.minus({ days: d.weekday - 1 }).toISODate()!;
}

export function isoWeekLabel(date: string): string {
  const d = parseDate(date);
  return `${d.weekYear}-W${String(d.weekNumber).padStart(2, '0')}`;
}

export function isoWeek(date: string, clock: PlantClock): Period {
  const monday = weekMonday(date);
  return {
    type: 'week',
    start: monday,
    label: isoWeekLabel(monday),
    from: dayStartInstant(monday, clock),
    to: dayStartInstant(addDays(monday, 7), clock),
  };
}

/** The production day that contains `instant`. */
export function productionDayOf(instant: DateTime, clock: PlantClock): string {
  const local = instant.setZone(clock.timezone);
  const date = local.toISODate()!;
  return local < dayStartInstant(date, clock) ? addDays(date, -1) : date;
}

/** The last production day that has fully ended at `now`. */
export function lastCompleteDay(now: DateTime, clock: PlantClock): string {
  return addDays(productionDayOf(now, clock), -1);
}

/** Every date from `from` to `to`, inclusive. */
export function dateRange(from: string, to: string): string[] {
  const a = parseDate(from);
  const b = parseDate(to);
  if (b < a) throw new Error(`the range ends (${to}) before it starts (${from})`);
  const out: string[] = [];
  for (let d = a; d <= b; d = d.plus({ days: 1 })) out.push(d.toISODate()!);
  return out;
}

/** The day periods for `days` and the week periods of every ISO week they touch, days first, each sorted. */
export function periodsForDays(days: readonly string[], clock: PlantClock): Period[] {
  const uniqueDays = [...new Set(days)].sort();
  const mondays = [...new Set(uniqueDays.map(weekMonday))].sort();
  return [...uniqueDays.map((d) => productionDay(d, clock)), ...mondays.map((m) => isoWeek(m, clock))];
}

/**
 * Splits days into batches of at most `weeksPerBatch` consecutive ISO weeks (a gap starts a new
 * batch), so one statement aggregates each week once and no batch spans empty weeks.
 */
export function weekBatches(days: readonly string[], weeksPerBatch: number): string[][] {
  const sorted = [...new Set(days)].sort();
  const mondays = [...new Set(sorted.map(weekMonday))];
  const batches: string[][] = [];
  let current: string[] = [];
  mondays.forEach((m, i) => {
    if (current.length === weeksPerBatch || (i > 0 && addDays(mondays[i - 1]!, 7) !== m)) {
      batches.push(current);
      current = [];
    }
    current.push(m);
  });
  if (current.length) batches.push(current);
  return batches.map((ms) => sorted.filter((d) => ms.includes(weekMonday(d))));
}

/**
 * A period bound as the source database stores time: UTC wall-clock or naive plant-local wall-clock,
 * 'YYYY-MM-DD HH:MM:SS'. Day starts are whole minutes, so no fraction is needed, and text without one
 * compares correctly with stored text that has one.
 */
export function sourceTimestamp(instant: DateTime, mode: 'utc' | 'local', clock: PlantClock): string {
  const t = mode === 'utc' ? instant.toUTC() : instant.setZone(clock.timezone);
  return t.toFormat('yyyy-MM-dd HH:mm:ss');
}

/**
 * A source timestamp as a driver returns it: text (PostgreSQL's timestamp without zone, SQLite), a
 * Date holding the wall-clock as UTC (SQL Server's datetime2), or epoch milliseconds (a JS Date that
 * SQLite stored).
 */
export function sourceValueInstant(value: unknown, mode: 'utc' | 'local', clock: PlantClock): DateTime {
  if (value instanceof Date) return parseSourceTimestamp(value.toISOString().slice(0, 23).replace('T', ' '), mode, clock);
  if (typeof value === 'number') return parseSourceTimestamp(new Date(value).toISOString().slice(0, 23), 'utc', clock);
  return parseSourceTimestamp(String(value), mode, clock);
}

/** Parses a source timestamp text (as the database returned it) into an instant. */
export function parseSourceTimestamp(text: string, mode: 'utc' | 'local', clock: PlantClock): DateTime {
  const iso = text.trim().replace(' ', 'T').replace(/Z$/, '');
  return DateTime.fromISO(iso, { zone: mode === 'utc' ? 'UTC' : clock.timezone });
}

/** The production days' bounds as the source stores time (the statements' day slots). */
export function sourceDaySlots(days: readonly string[], mode: 'utc' | 'local', clock: PlantClock): { from: string; to: string }[] {
  return days.map((d) => productionDay(d, clock)).map((p) => ({ from: sourceTimestamp(p.from, mode, clock), to: sourceTimestamp(p.to, mode, clock) }));
}

/** A date column as the driver returned it ('YYYY-MM-DD' text, or a Date at UTC midnight). */
export function isoDate(v: unknown): string {
  if (v instanceof Date) return v.toISOString().slice(0, 10);
  return String(v).slice(0, 10);
}
