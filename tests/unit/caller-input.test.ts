/**
 * The pure checks at the runner's edge and in its housekeeping: caller limits, day lists in logs,
 * and the last day the catch-up may run.
 */
import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { resolveConfig } from '../../config/load.js';
import { CallerInputError, boundedDayRange, boundedText, checkJobName, fitColumn } from '../../jobs/caller-input.js';
import { logDays } from '../../jobs/log.js';
import { lastDueDay } from '../../jobs/catch-up.js';

const clock = { timezone: 'Europe/Berlin', dayStart: '06:00' };

describe('caller input', () => {
  it('job names are own properties of the registry only', () => {
    expect(checkJobName('job', 'spc')).toBe('spc');
    for (const name of ['constructor', 'toString', '__proto__', 'valueOf', '', 42]) {
      expect(() => checkJobName('job', name)).toThrow(CallerInputError);
    }
  });

  it('text is bounded, the field and the limit named', () => {
    expect(boundedText('reason', 'r'.repeat(512), 512)).toHaveLength(512);
    expect(boundedText('reason', undefined, 512)).toBeUndefined();
    const err = (() => {
      try {
        boundedText('--reason', 'r'.repeat(513), 512);
      } catch (e) {
        return e as CallerInputError;
      }
    })();
    expect(err).toMatchObject({ field: '--reason', limit: 512, message: '--reason: at most 512 characters, got 513' });
    expect(() => boundedText('reason', { a: 1 }, 512)).toThrow(/reason: expected text/);
    expect(fitColumn('x'.repeat(130), 128)).toHaveLength(128);
    expect(fitColumn('short', 128)).toBe('short');
  });

  it('a range is at most maxDays days unless forced, refused without listing it', () => {
    const bound = { maxDays: 400, forceHint: '--force' };
    expect(boundedDayRange('to', '2025-01-01', '2026-02-04', bound)).toHaveLength(400);
    expect(() => boundedDayRange('to', '2025-01-01', '2026-02-05', bound)).toThrow('to: 2025-01-01 … 2026-02-05 is 401 days; at most 400 at once (runner.maxRangeDays) unless --force');
    expect(boundedDayRange('to', '2025-01-01', '2026-02-05', { ...bound, force: true })).toHaveLength(401);
    expect(() => boundedDayRange('to', '2026-02-05', '2026-02-01', bound)).toThrow(/to: the range ends \(2026-02-01\) before it starts/);
  });

  it('a long day list is logged by its ends and count', () => {
    const ten = Array.from({ length: 10 }, (_, i) => `2026-11-${String(i + 10)}`);
    expect(logDays(ten)).toEqual(ten);
    expect(logDays([...ten, '2026-11-09'])).toEqual({ first: '2026-11-09', last: '2026-11-19', count: 11 });
  });
});

describe('the last day the catch-up runs', () => {
  const at = (iso: string) => DateTime.fromISO(iso, { zone: 'Europe/Berlin' });
  const plant = { timezone: 'Europe/Berlin', dayStart: '06:00' };
  const scheduled = resolveConfig({ plant, schedules: { nightly: { job: 'nightly-summary', cron: '30 6 * * *' } } }, {});
  const unscheduled = resolveConfig({ plant, schedules: {} }, {});

  it('is the day the nightly schedule last fired for: a day that just ended waits for its firing', () => {
    // 06:10 on the 22nd: the 21st has ended, but its firing (06:30) has not come yet.
    expect(lastDueDay(scheduled, clock, at('2026-11-22T06:10'))).toBe('2026-11-20');
    expect(lastDueDay(scheduled, clock, at('2026-11-22T06:30'))).toBe('2026-11-21');
    expect(lastDueDay(scheduled, clock, at('2026-11-22T07:00'))).toBe('2026-11-21');
    // Without a schedule: yesterday's production day as soon as it ended.
    expect(lastDueDay(unscheduled, clock, at('2026-11-22T06:10'))).toBe('2026-11-21');
  });
});
