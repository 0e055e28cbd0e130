import { describe, expect, it } from 'vitest';
import { consecutiveSubgroups, subgroupsByKey } from '../../../etl/spc/subgroups.js';

describe('subgroupsByKey', () => {
  const rows = [
    { hour: '06', at: '2026-03-01T06:05:00Z', duration: 41 },
    { hour: '06', at: '2026-03-01T06:20:00Z', duration: 43 },
    { hour: '07', at: '2026-03-01T07:02:00Z', duration: 40 },
    { hour: '06', at: '2026-03-01T06:50:00Z', duration: 45 },
  ];

  it('one subgroup per key, in order of first appearance, with the first row’s time', () => {
    const subgroups = subgroupsByKey(rows, { key: (r) => r.hour, value: (r) => r.duration, time: (r) => r.at });
    expect(subgroups).toEqual([
      { key: '06', time: '2026-03-01T06:05:00Z', values: [41, 43, 45] },
      { key: '07', time: '2026-03-01T07:02:00Z', values: [40] },
    ]);
  });

  it('without a time function there is no time', () => {
    expect(subgroupsByKey(rows, { key: (r) => r.hour, value: (r) => r.duration })[1]).toEqual({ key: '07', values: [40] });
  });

  it('rejects a value that is not finite, naming the row and key', () => {
    expect(() => subgroupsByKey([{ k: 'a', v: Number.NaN }], { key: (r) => r.k, value: (r) => r.v })).toThrow(/row 0 \(subgroup 'a'\)/);
  });
});

describe('consecutiveSubgroups', () => {
  const observations = [1, 2, 3, 4, 5, 6, 7].map((value, i) => ({ value, time: `t${i}` }));

  it('keeps a short last subgroup by default (unequal sizes, as Minitab)', () => {
    expect(consecutiveSubgroups(observations, 3)).toEqual([
      { values: [1, 2, 3], time: 't0' },
      { values: [4, 5, 6], time: 't3' },
      { values: [7], time: 't6' },
    ]);
  });

  it('or drops it', () => {
    expect(consecutiveSubgroups(observations, 3, { partial: 'drop' }).map((s) => s.values)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });

  it('rejects a size that is not a whole number ≥ 1', () => {
    expect(() => consecutiveSubgroups(observations, 0)).toThrow(/subgroup size/);
  });
});
