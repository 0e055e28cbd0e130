/**
 * Out-of-control events of one chart (etl/spc-events.ts, spc.md §6), on hand-made series: which
 * points open, join and close an event, and what it keeps.
 */
import { describe, expect, it } from 'vitest';
import { chartEvents, type EventFlag } from '../../etl/spc-events.js';

const alarm = (rule: 1 | 2 = 1, panel: 'main' | 'paired' = 'main'): EventFlag => ({ panel, rule, severity: 'alarm' });
const warning = (rule: 5 | 6 = 5): EventFlag => ({ panel: 'main', rule, severity: 'warning' });

/** Values of a chart with CL 10, flags by point index. */
function series(values: readonly number[], flags: Record<number, EventFlag[]>) {
  return { length: values.length, value: (i: number) => values[i]!, cl: () => 10, flags: new Map(Object.entries(flags).map(([i, f]) => [Number(i), f])) };
}

describe('out-of-control events of a chart', () => {
  it('an alarm opens, flagged points join, the 8th clean point closes', () => {
    const values = Array.from({ length: 20 }, (_, i) => (i >= 3 && i <= 6 ? 7 - (i - 3) * 0.5 : 10));
    // 3: rule 1; 4: rules 1 and 5; 5: warning only (joins the open event); 6: rule 1 on both panels.
    const s = series(values, { 3: [alarm()], 4: [alarm(), warning()], 5: [warning()], 6: [alarm(), alarm(1, 'paired')] });
    const [e, ...more] = chartEvents(s, 8);
    expect(more).toEqual([]);
    // Clean points 7..14: the 8th of them, point 14, closes it.
    expect(e).toEqual({
      openedIndex: 3,
      lastFlaggedIndex: 6,
      closedIndex: 14,
      flaggedPoints: 4,
      rules: [
        { panel: 'main', rule: 1, points: 3 },
        { panel: 'main', rule: 5, points: 2 },
        { panel: 'paired', rule: 1, points: 1 },
      ],
      // Point 6 is 5.5, 4.5 below CL 10: the farthest.
      extremeIndex: 6,
      side: 'below',
    });
  });

  it('stays open with fewer clean points than eventCloseAfter at the end; a flag on the 7th clean point keeps it open', () => {
    const values = Array.from({ length: 10 }, () => 10); // after point 2, seven clean points
    expect(chartEvents(series(values, { 2: [alarm(2)] }), 8)[0]).toMatchObject({ openedIndex: 2, closedIndex: null });
    // Flags at 0 and 8 (7 clean points between): one event; at 0 and 9 (8 between): two.
    expect(chartEvents(series(Array(30).fill(11), { 0: [alarm()], 8: [alarm()] }), 8).map((e) => [e.openedIndex, e.closedIndex])).toEqual([[0, 16]]);
    expect(chartEvents(series(Array(30).fill(11), { 0: [alarm()], 9: [alarm()] }), 8).map((e) => [e.openedIndex, e.closedIndex])).toEqual([
      [0, 8],
      [9, 17],
    ]);
  });

  it('a warning never opens an event', () => {
    expect(chartEvents(series(Array(20).fill(12), { 1: [warning()], 2: [warning(6)] }), 8)).toEqual([]);
    // After the warnings, an alarm opens one that starts at the alarm.
    expect(chartEvents(series(Array(20).fill(12), { 1: [warning()], 2: [alarm()], 3: [warning()] }), 3)[0]).toMatchObject({ openedIndex: 2, lastFlaggedIndex: 3, closedIndex: 6, flaggedPoints: 2, side: 'above' });
  });

  it('eventCloseAfter must be a whole number ≥ 1', () => {
    expect(() => chartEvents(series([1], {}), 0)).toThrow(/spc.eventCloseAfter/);
  });
});
