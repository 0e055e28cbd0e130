import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import {
  isoWeek,
  lastCompleteDay,
  periodsForDays,
  productionDay,
  productionDayOf,
  sourceTimestamp,
  dateRange,
  weekBatches,
} from '../../etl/periods.js';

const berlin = { timezone: 'Europe/Berlin', dayStart: '06:00' };
const hours = (p: { from: DateTime; to: DateTime }) => p.to.diff(p.from, 'hours').hours;

describe('production days in plant time', () => {
  it('a normal day is 24 hours from dayStart to dayStart', () => {
    const d = productionDay('2026-11-20', berlin);
    expect(d.from.toUTC().toISO()).toBe('2026-11-20T05:00:00.000Z');
    expect(d.to.toUTC().toISO()).toBe('2026-11-21T05:00:00.000Z');
    expect(hours(d)).toBe(24);
  });

  it('the day holding the spring-forward change lasts 23 hours, the fall-back day 25', () => {
    // 2026-03-29 02:00 CET → 03:00 CEST falls inside production day 2026-03-28 (06:00 to 06:00).
    expect(hours(productionDay('2026-03-28', berlin))).toBe(23);
    expect(hours(productionDay('2026-03-29', berlin))).toBe(24);
    // 2026-10-25 03:00 CEST → 02:00 CET falls inside production day 2026-10-24.
    expect(hours(productionDay('2026-10-24', berlin))).toBe(25);
    // With dayStart 00:00 the calendar day itself is the short / long one.
    const midnight = { timezone: 'Europe/Berlin', dayStart: '00:00' };
    expect(hours(productionDay('2026-03-29', midnight))).toBe(23);
    expect(hours(productionDay('2026-10-25', midnight))).toBe(25);
  });

  it('source bounds are UTC or local wall-clock text', () => {
    const d = productionDay('2026-10-24', berlin);
    expect(sourceTimestamp(d.from, 'utc', berlin)).toBe('2026-10-24 04:00:00');
    expect(sourceTimestamp(d.to, 'utc', berlin)).toBe('2026-10-25 05:00:00');
    expect(sourceTimestamp(d.from, 'local', berlin)).toBe('2026-10-24 06:00:00');
    expect(sourceTimestamp(d.to, 'local', berlin)).toBe('2026-10-25 06:00:00');
  });

  it('an instant belongs to the production day that started last', () => {
    const at = (iso: string) => DateTime.fromISO(iso, { zone: 'Europe/Berlin' });
    expect(productionDayOf(at('2026-11-21T05:59:59'), berlin)).toBe('2026-11-20');
    expect(productionDayOf(at('2026-11-21T06:00:00'), berlin)).toBe('2026-11-21');
    // "yesterday" at 05:00 on the 22nd is the 20th: the 21st is still running.
    expect(lastCompleteDay(at('2026-11-22T05:00:00'), berlin)).toBe('2026-11-20');
    expect(lastCompleteDay(at('2026-11-22T06:30:00'), berlin)).toBe('2026-11-21');
  });
});

describe('ISO weeks', () => {
  it('labels the week with its ISO week-year, across the year boundary (2026 has 53 weeks)', () => {
    expect(isoWeek('2026-11-20', berlin).label).toBe('2026-W47');
    expect(isoWeek('2026-11-20', berlin).start).toBe('2026-11-16');
    const w53 = isoWeek('2027-01-02', berlin);
    expect(w53.label).toBe('2026-W53');
    expect(w53.start).toBe('2026-12-28');
    expect(isoWeek('2027-01-04', berlin).label).toBe('2027-W01');
    // 2024-12-30 (Monday) already belongs to 2025-W01.
    expect(isoWeek('2024-12-31', berlin).label).toBe('2025-W01');
  });

  it('a week runs Monday at dayStart to the next Monday at dayStart; the DST week is 167 or 169 hours', () => {
    expect(hours(isoWeek('2026-11-18', berlin))).toBe(168);
    expect(hours(isoWeek('2026-03-25', berlin))).toBe(167);
    expect(hours(isoWeek('2026-10-21', berlin))).toBe(169);
  });

  it('periodsForDays gives each day and every week touched, once', () => {
    const ps = periodsForDays(['2026-12-31', '2027-01-04', '2026-12-31', '2027-01-01'], berlin);
    expect(ps.map((p) => p.label)).toEqual(['2026-12-31', '2027-01-01', '2027-01-04', '2026-W53', '2027-W01']);
  });

  it('weekBatches groups days by consecutive ISO weeks, at most N weeks per batch', () => {
    // W45 (Nov 2–8), W46, W47, then a gap (W48 empty), W49.
    const days = ['2026-11-20', '2026-11-03', '2026-11-10', '2026-11-12', '2026-12-01', '2026-11-03'];
    expect(weekBatches(days, 2)).toEqual([['2026-11-03', '2026-11-10', '2026-11-12'], ['2026-11-20'], ['2026-12-01']]);
    expect(weekBatches(days, 5)).toEqual([['2026-11-03', '2026-11-10', '2026-11-12', '2026-11-20'], ['2026-12-01']]);
    expect(weekBatches([], 5)).toEqual([]);
  });

  it('dateRange is inclusive and refuses a reversed range', () => {
    expect(dateRange('2026-02-27', '2026-03-02')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02']);
    expect(() => dateRange('2026-03-02', '2026-03-01')).toThrow(/ends .* before it starts/);
    expect(() => productionDay('2026-13-01', berlin)).toThrow(/expected a date/);
  });
});
