/**
 * The plan a lot gets: the plant's own sampling code table (N 100 → n 20 Ac 0, 200 → 20/0,
 * 500 → 50/0, 1000 → 100/0) as a fixed lot-size table, an accept-on-zero table by verification
 * level, a fixed (n, c), and MIL-STD-105E by state; and the decisions.
 */
import { describe, expect, it } from 'vitest';
import { SamplingPlanError } from '../../../etl/sampling/code-letters.js';
import { decide, planFor, type PlanTables } from '../../../etl/sampling/plans.js';
import { disposeLots } from '../../../etl/sampling/dispositions.js';
import { initialState } from '../../../etl/sampling/switching.js';
import { DateTime } from 'luxon';

const tables: PlanTables = {
  lotSizeTables: {
    'plant-codes': {
      rows: [
        { upTo: 100, n: 20, ac: 0 },
        { upTo: 200, n: 20, ac: 0 },
        { upTo: 500, n: 50, ac: 0 },
        { upTo: 1000, n: 100, ac: 0 },
      ],
    },
  },
  zeroAcceptanceTables: {
    'plant-c0': {
      levels: ['I', 'II', 'III'],
      rows: [
        { upTo: 500, n: [8, 13, 20] },
        { upTo: null, n: [20, 32, 50] },
      ],
    },
  },
};

describe("the plant's sampling code table as a fixed plan", () => {
  it('reproduces the table: 100 → 20/0, 200 → 20/0, 500 → 50/0, 1000 → 100/0, and the bands between', () => {
    const plan = (N: number) => {
      const p = planFor({ type: 'lot-size-table', table: 'plant-codes' }, N, 'normal', tables);
      return `${p.n}/${p.ac}`;
    };
    expect([100, 200, 500, 1000].map(plan)).toEqual(['20/0', '20/0', '50/0', '100/0']);
    expect([101, 201, 501].map(plan)).toEqual(['20/0', '50/0', '100/0']);
  });
  it('a lot of 10 is inspected whole (n = N), a lot above the table has no plan', () => {
    expect(planFor({ type: 'lot-size-table', table: 'plant-codes' }, 10, 'normal', tables)).toMatchObject({ n: 10, tableN: 20, ac: 0, re: 1 });
    expect(() => planFor({ type: 'lot-size-table', table: 'plant-codes' }, 1001, 'normal', tables)).toThrow(SamplingPlanError);
  });
  it('is the same plan whatever the inspection state', () => {
    const t = planFor({ type: 'lot-size-table', table: 'plant-codes' }, 300, 'tightened', tables);
    expect(t).toMatchObject({ n: 50, ac: 0 });
  });
});

describe('accept on zero by verification level, fixed (n, c), MIL-STD-105E by state', () => {
  it('zero acceptance: the level picks the column, Ac 0 Re 1', () => {
    expect(planFor({ type: 'zero-acceptance', table: 'plant-c0', level: 'II' }, 400, 'normal', tables)).toMatchObject({ n: 13, ac: 0, re: 1 });
    expect(planFor({ type: 'zero-acceptance', table: 'plant-c0', level: 'III' }, 5000, 'normal', tables)).toMatchObject({ n: 50, ac: 0, re: 1 });
  });
  it('fixed', () => {
    expect(planFor({ type: 'fixed', n: 32, c: 1 }, 1000, 'reduced', tables)).toMatchObject({ n: 32, ac: 1, re: 2, label: 'fixed n=32 c=1' });
  });
  it('MIL-STD-105E, 1 000 units, AQL 1.0, level II (J): normal 80 2/3, tightened 80 1/2, reduced 32 1/3; discontinued inspects tightened', () => {
    const spec = { type: 'mil-std-105e' as const, aql: 1.0, level: 'II' as const, reduced: { enabled: true, limitNumber: null } };
    expect(planFor(spec, 1000, 'normal', tables)).toMatchObject({ codeLetter: 'J', n: 80, ac: 2, re: 3 });
    expect(planFor(spec, 1000, 'tightened', tables)).toMatchObject({ n: 80, ac: 1, re: 2 });
    expect(planFor(spec, 1000, 'reduced', tables)).toMatchObject({ n: 32, ac: 1, re: 3 });
    expect(planFor(spec, 1000, 'discontinued', tables)).toMatchObject({ n: 80, ac: 1, re: 2, label: 'MIL-STD-105E II-B J AQL 1 % (level II)' });
  });
});

describe('decisions', () => {
  it('accept at most Ac, reject from Re, and a sample smaller than n is not judged', () => {
    const p = { n: 20, ac: 1, re: 2 };
    expect(decide(p, 20, 1)).toBe('accept');
    expect(decide(p, 20, 2)).toBe('reject');
    expect(decide(p, 19, 0)).toBe('sample_too_small');
  });
  it('a day of lots: plan, decision, state after; invalid and unplanned lots change nothing', () => {
    const at = DateTime.fromISO('2026-11-20T08:00:00Z');
    const lot = (id: string, d: number, extra: object = {}) => ({ lotId: id, product: 'FOIL', inspectionClass: 'major', supplier: 'S1', inspectedAt: at, lotSize: 150, inspected: 20, defectives: d, invalid: null, ...extra });
    const cfg = { plans: [{ product: 'FOIL', class: 'major', plan: { type: 'lot-size-table' as const, table: 'plant-codes' }, ltpd: 10 }], ...tables };
    const { dispositions, state } = disposeLots(
      [lot('L1', 1), lot('L2', 0, { invalid: 'defectives 25 exceed the inspected 20' }), lot('L3', 0, { product: 'OTHER' }), lot('L4', 1), lot('L5', 0, { inspected: 10 })],
      '2026-11-20',
      initialState(),
      cfg,
    );
    expect(dispositions.map((d) => `${d.lot.lotId} ${d.decision} ${d.before}→${d.after.state}`)).toEqual([
      'L1 reject normal→normal',
      'L2 invalid normal→normal',
      'L3 no_plan normal→normal',
      'L4 reject normal→tightened',
      'L5 sample_too_small tightened→tightened',
    ]);
    expect(state.state).toBe('tightened');
    // β at the LTPD of 10 %: 0.9^20; the LTPD at Pa 0.10: 1 − 0.1^(1/20).
    expect(dispositions[0]!.beta).toBeCloseTo(0.9 ** 20, 12);
    expect(dispositions[0]!.ltpdAtPa10).toBeCloseTo(1 - 0.1 ** (1 / 20), 10);
    expect(dispositions[0]!.alpha).toBeNull();
    expect(dispositions[4]!.note).toBe('inspected 10, the plan needs 20');
  });
});
