/**
 * Composition of the daily yield email (pure): the subject's form, the KPI table's values and
 * markings, HTML that mail clients render (no style sheets, scripts or external resources),
 * escaping, the plain-text alternative and the two notices.
 */
import { describe, expect, it } from 'vitest';
import { productionDay } from '../../etl/periods.js';
import {
  buildHeadline,
  buildPareto,
  buildTrend,
  rankWorstStations,
  type DailyYieldData,
  type MachineDay,
  type ProdDay,
} from '../../reports/daily-yield-data.js';
import {
  composeDailyYieldEmail,
  composeNoDataNotice,
  composeSummaryFailedNotice,
  dailyYieldSubject,
  pointsText,
} from '../../reports/daily-yield-email.js';

const CLOCK = { timezone: 'Europe/Berlin', dayStart: '06:00' };
const TARGETS = { firstPassYield: 0.95, cumulativeYield: 0.98 };

const prod = (day: string, product: string, units: number, fpy: number | null, cy: number | null, load = units): ProdDay => ({
  day, product, load_qty: load, test_count: units + 1, units_tested: units, rolled_first_pass_yield: fpy, rolled_cumulative_yield: cy, run_id: 3, computed_at: new Date('2026-11-21T05:30:00Z'),
});
const machine = (name: string, units: number, fp: number): MachineDay => ({
  machine: name, test_count: units, pass_count: fp, passing_rate: fp / units, units_tested: units, first_pass_units: fp, first_pass_yield: fp / units, cumulative_yield: 1, retest_count: 0,
});

function data(rows: ProdDay[], machines: MachineDay[] = [], day = '2026-11-20'): DailyYieldData {
  const p = productionDay(day, CLOCK);
  return {
    day,
    from: p.from,
    to: p.to,
    weekStart: '2026-11-16',
    weekLabel: '2026-W47',
    state: { kind: 'report', run: null },
    headline: buildHeadline(rows, day, TARGETS),
    worst: rankWorstStations(machines, 5, 10),
    pareto: buildPareto(machines, 10),
    trend: buildTrend(rows, day),
    quality: { rowsRead: 1000, rowsValid: 990, rowsRejected: 10, duplicatesDropped: 2, excessAttempts: 3, pendingUnits: 4, rejectsByReason: [{ reason: 'bad_result', count: 6 }, { reason: 'missing_serial', count: 4 }], rejectsStored: 10, undatedRejects: 0 },
    summaryRunIds: [3],
    computedAt: new Date('2026-11-21T05:30:00Z'),
  };
}

const ctx = { plant: 'Demo Plant', timezone: 'Europe/Berlin', targets: TARGETS, workbookName: 'demo-plant_daily-yield_2026-11-20.xlsx', trend: { cid: 'fpy@x', width: 600, height: 380 }, runId: 9 };

describe('subject', () => {
  it('names the plant and day and gives the overall FPY with its change in points', () => {
    // FPY 0.962 today, 0.970 the day before: −0.8 points.
    const d = data([prod('2026-11-20', 'P1', 100, 0.962, 0.99), prod('2026-11-19', 'P1', 50, 0.97, 0.99)]);
    expect(dailyYieldSubject(d, 'Demo Plant')).toBe('Daily yield 2026-11-20 · Demo Plant · FPY 96.2 % (\u22120.8)');
  });
  it('a rise has a plus sign; no earlier day, no change', () => {
    expect(dailyYieldSubject(data([prod('2026-11-20', 'P1', 10, 0.9, 1), prod('2026-11-18', 'P1', 10, 0.85, 1)]), 'X')).toBe('Daily yield 2026-11-20 · X · FPY 90.0 % (+5.0)');
    expect(dailyYieldSubject(data([prod('2026-11-20', 'P1', 10, 0.9, 1)]), 'X')).toBe('Daily yield 2026-11-20 · X · FPY 90.0 %');
  });
  it('points: rounded to a tenth, ±0.0 for no change', () => {
    expect(pointsText(-0.008)).toBe('\u22120.8');
    expect(pointsText(0.00004)).toBe('±0.0');
    expect(pointsText(null)).toBe('–');
  });
});

describe('daily yield email', () => {
  const d = data(
    [prod('2026-11-20', 'P<1>', 8, 9 / 16, 0.75, 4), prod('2026-11-20', 'P2', 2, 1, 1, 2), prod('2026-11-19', 'P<1>', 2, 0.5, 1)],
    [machine('M1', 40, 30), machine('M2', 20, 20)],
  );
  const e = composeDailyYieldEmail(d, ctx);

  it('HTML a mail client renders: tables and inline styles, no style sheets, scripts or remote images', () => {
    expect(e.html).toMatch(/^<!DOCTYPE html>/);
    expect(e.html).not.toMatch(/<style|<script|<link|class="|src="http/i);
    expect(e.html).toContain('<img src="cid:fpy@x"');
    expect(e.html).toMatch(/<table role="presentation"/);
  });

  it('escapes names from the data', () => {
    expect(e.html).toContain('P&lt;1&gt;');
    expect(e.html).not.toContain('<1>');
  });

  it('the KPI rows carry the numbers, below-target ones marked', () => {
    const row = (name: string) => {
      const m = new RegExp(`<tr[^>]*><td[^>]*>${name}</td>(.*?)</tr>`).exec(e.html);
      return [...m![1]!.matchAll(/<td style="([^"]*)">([^<]*)<\/td>/g)].map((x) => ({ style: x[1]!, text: x[2]! }));
    };
    const all = row('All products');
    // load, tests, FPY, Δ, 7-day FPY, CY, Δ
    // Today (8·9/16 + 2·1) / 10 = 65 %; the 19th had P<1> only: 50 %, so +15 points; CY 80 % against 100 %.
    expect(all.map((c) => c.text)).toEqual(['6', '12', '65.0 %', '+15.0', '50.0 %', '80.0 %', '\u221220.0']);
    expect(all[2]!.style).toContain('background:#ffc7ce'); // 65 % < 95 %
    expect(all[3]!.style).toContain('color:#2e7d32'); // a rise
    expect(all[6]!.style).toContain('color:#c00000'); // a fall
    const p2 = row('P2');
    expect(p2.map((c) => c.text)).toEqual(['2', '3', '100.0 %', '–', '–', '100.0 %', '–']);
    expect(p2[2]!.style).not.toContain('background:#ffc7ce');
  });

  it('lists the worst stations and the data quality', () => {
    expect(e.html).toMatch(/<td[^>]*>1<\/td><td[^>]*>M1<\/td><td[^>]*>40<\/td><td[^>]*>75\.0 %<\/td>/);
    expect(e.html).toContain('Rejected by reason: bad_result 6, missing_serial 4.');
  });

  it('has a plain-text alternative with the same numbers', () => {
    expect(e.text).toMatch(/All products\s+6\s+12\s+65\.0 %!\s+\+15\.0\s+50\.0 %\s+80\.0 %!\s+\u221220\.0/);
    expect(e.text).toMatch(/1\. M1\s+FPY\s+75\.0 %/);
    expect(e.text).toContain('demo-plant_daily-yield_2026-11-20.xlsx');
  });
});

describe('notices', () => {
  const empty = data([], [], '2026-11-22');

  it('no data: says so, and what to run when no summary computed the day', () => {
    const n = composeNoDataNotice(empty, ctx);
    expect(n.subject).toBe('Daily yield 2026-11-22 · Demo Plant · no data');
    expect(n.text).toContain('No data for 2026-11-22');
    expect(n.text).toContain('yieldrun run nightly-summary --date 2026-11-22');
  });

  it('summary failed: names the run and its error, shows no numbers', () => {
    const run = { id: 12, status: 'failed', triggeredBy: 'schedule', startedAt: new Date('2026-11-21T05:00:00Z'), finishedAt: new Date('2026-11-21T05:01:00Z'), error: 'relation "summary_prod" does not exist\nstack…' };
    const n = composeSummaryFailedNotice(empty, run, ctx);
    expect(n.subject).toBe('Daily yield 2026-11-22 · Demo Plant · summary failed');
    expect(n.text).toContain('run 12 (triggered by schedule) at 2026-11-21 06:01');
    expect(n.text).toContain('Error: relation "summary_prod" does not exist');
    expect(n.text).not.toContain('stack');
    expect(n.html).not.toMatch(/ %</);
  });
});
