/**
 * MIL-STD-105E Table I and the master tables II-A / II-B / II-C, cell by cell against an
 * independent public implementation (the R package AQLSchemes, see aqlschemes-reference.ts), and
 * the arrow rule on worked cells.
 */
import { describe, expect, it } from 'vitest';
import { aqlColumn, codeLetter, masterPlan, milStd105ePlan, SamplingPlanError } from '../../../etl/sampling/code-letters.js';
import { AQLS, CODE_LETTERS, INSPECTION_LEVELS, MASTER_TABLES } from '../../../etl/sampling/mil-std-105e.js';
import { REFERENCE_CODE_LETTERS, REFERENCE_PLANS } from './aqlschemes-reference.js';

describe('Table I: sample size code letters', () => {
  it('gives the reference letter for the first, a middle and the last lot size of every band at every level', () => {
    let checked = 0;
    for (const [band, letters] of REFERENCE_CODE_LETTERS) {
      const [lo, hi] = band.split('-').map((x) => (x === '' ? undefined : Number(x)));
      const sizes = hi === undefined ? [lo!, lo! * 3, 10_000_000] : [lo!, Math.floor((lo! + hi) / 2), hi];
      for (const size of sizes) {
        INSPECTION_LEVELS.forEach((level, i) => {
          expect(codeLetter(size, level), `${size} at ${level}`).toBe(letters[i]);
          checked++;
        });
      }
    }
    expect(checked).toBe(15 * 3 * 7);
  });

  it('worked examples at the general levels: 1 000 units at II is J, at I G, at III K; 501 at II is J, 500 is H', () => {
    expect(codeLetter(1000, 'II')).toBe('J');
    expect(codeLetter(1000, 'I')).toBe('G');
    expect(codeLetter(1000, 'III')).toBe('K');
    expect(codeLetter(501, 'II')).toBe('J');
    expect(codeLetter(500, 'II')).toBe('H');
    expect(codeLetter(1, 'II')).toBe('A');
  });

  it('refuses a lot size that is not a whole number and a level that is none', () => {
    expect(() => codeLetter(0, 'II')).toThrow(SamplingPlanError);
    expect(() => codeLetter(12.5, 'II')).toThrow(/whole number/);
    expect(() => codeLetter(100, 'IV' as never)).toThrow(/S-1, S-2, S-3, S-4, I, II, III/);
  });
});

describe('master tables: every code letter × AQL resolves as the reference does', () => {
  for (const severity of ['normal', 'tightened', 'reduced'] as const) {
    it(`Table ${severity === 'normal' ? 'II-A' : severity === 'tightened' ? 'II-B' : 'II-C'} (${severity}), 16 × 26 cells`, () => {
      const mismatches: string[] = [];
      for (const letter of CODE_LETTERS) {
        const expected = REFERENCE_PLANS[severity][letter].split(' ');
        AQLS.forEach((aql, j) => {
          const p = masterPlan(letter, aql, severity);
          const got = `${p.n}:${p.ac}/${p.re}`;
          if (got !== expected[j]) mismatches.push(`${letter} ${aql}: ${got}, reference ${expected[j]}`);
        });
      }
      expect(mismatches).toEqual([]);
    });
  }

  it('every row has 26 cells, each an arrow or Ac/Re with Re > Ac', () => {
    for (const t of Object.values(MASTER_TABLES)) {
      for (const cells of Object.values(t.cells)) {
        const xs = cells.split(' ');
        expect(xs).toHaveLength(26);
        for (const c of xs) if (c !== '↓' && c !== '↑') expect(Number(c.split('/')[1])).toBeGreaterThan(Number(c.split('/')[0]));
      }
    }
  });
});

describe('the arrow rule: the first plan in the arrow’s direction, with its own sample size', () => {
  it('normal, 1 000 units, level II (J, n 80): AQL 0.65 is 1/2 in the cell itself', () => {
    expect(milStd105ePlan(1000, 0.65, 'II', 'normal')).toMatchObject({ codeLetter: 'J', planLetter: 'J', n: 80, ac: 1, re: 2 });
  });
  it('normal, row J (n 80): under 0.25 ↑ to H’s 0/1 (n 50), under 0.40 and 0.10 ↓ to K (n 125)', () => {
    expect(masterPlan('J', 0.25, 'normal')).toMatchObject({ planLetter: 'H', n: 50, ac: 0, re: 1 });
    expect(masterPlan('J', 0.4, 'normal')).toMatchObject({ planLetter: 'K', n: 125, ac: 1, re: 2 });
    expect(masterPlan('J', 0.1, 'normal')).toMatchObject({ planLetter: 'K', n: 125, ac: 0, re: 1 });
  });
  it('the standard’s own example of a long arrow: A under 0.010 leads down to Q (n 1 250, 0/1)', () => {
    expect(masterPlan('A', 0.01, 'normal')).toMatchObject({ planLetter: 'Q', n: 1250, ac: 0, re: 1 });
  });
  it('tightened: R under 0.025 leads down to row S (n 3 150, 1/2)', () => {
    expect(masterPlan('R', 0.025, 'tightened')).toMatchObject({ planLetter: 'S', n: 3150, ac: 1, re: 2 });
  });
  it('reduced plans have Re above Ac + 1: K under 1.0 is 1/4 with n 50, under 2.5 3/6', () => {
    expect(masterPlan('K', 1.0, 'reduced')).toMatchObject({ n: 50, ac: 1, re: 4 });
    expect(masterPlan('K', 2.5, 'reduced')).toMatchObject({ n: 50, ac: 3, re: 6 });
  });
  it('an AQL that is not a column is refused, naming the columns', () => {
    expect(() => aqlColumn(0.7)).toThrow(/not a column of MIL-STD-105E; expected one of 0.01, 0.015/);
    expect(aqlColumn(1)).toBe(10);
  });
});
