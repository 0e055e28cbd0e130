import { describe, expect, it } from 'vitest';
import { capability } from '../../../etl/spc/capability.js';
import { individualsChart } from '../../../etl/spc/individuals-chart.js';
import { expectAllFinite, expectClose } from './expect-close.js';

describe('capability, worked by hand', () => {
  /**
   *   x = 9, 10, 11, 10, 10      μ = 10, Σ(x − μ)² = 2, σ_overall = √(2/4) = √0.5 (n − 1, no c4)
   *   σ_within = 0.5 (given), LSL = 7, USL = 14
   *   Cp  = 7/(6·0.5) = 7/3      CPU = 4/1.5 = 8/3    CPL = 3/1.5 = 2      Cpk = 2
   *   Pp  = 7/(6√0.5)            PPU = 4/(3√0.5)      PPL = 3/(3√0.5) = √2 Ppk = √2
   */
  const values = [9, 10, 11, 10, 10];

  it('two-sided', () => {
    const c = capability(values, 0.5, { lsl: 7, usl: 14 });
    expect(c.n).toBe(5);
    expectClose(c.mean, 10);
    expectClose(c.sigmaOverall, Math.sqrt(0.5));
    expect(c.sigmaWithin).toBe(0.5);
    expectClose(c.cp, 7 / 3);
    expectClose(c.cpu, 8 / 3);
    expectClose(c.cpl, 2);
    expectClose(c.cpk, 2);
    expectClose(c.pp, 7 / (6 * Math.sqrt(0.5)));
    expectClose(c.ppu, 4 / (3 * Math.sqrt(0.5)));
    expectClose(c.ppl, Math.SQRT2);
    expectClose(c.ppk, Math.SQRT2);
  });

  it('USL only: CPU and PPU, with Cpk and Ppk that side (as Minitab); no Cp, Pp or lower side', () => {
    const c = capability(values, 0.5, { usl: 14 });
    expectClose(c.cpu, 8 / 3);
    expectClose(c.cpk, 8 / 3);
    expectClose(c.ppk, 4 / (3 * Math.sqrt(0.5)));
    expect([c.cp, c.cpl, c.pp, c.ppl]).toEqual([null, null, null, null]);
  });

  it('LSL only: CPL and PPL', () => {
    const c = capability(values, 0.5, { lsl: 7, usl: null });
    expectClose(c.cpl, 2);
    expectClose(c.cpk, 2);
    expectClose(c.ppl, Math.SQRT2);
    expect([c.cp, c.cpu, c.pp, c.ppu]).toEqual([null, null, null, null]);
  });

  it('a process off centre: Cpk takes the nearer limit, can go negative', () => {
    const c = capability([15, 16, 17], 1, { lsl: 7, usl: 14 }); // μ = 16
    expectClose(c.cpu, -2 / 3);
    expectClose(c.cpk, -2 / 3);
    expectClose(c.cpl, 3);
  });
});

describe('capability with the I-MR σ̂ (the worked I-MR example)', () => {
  /**
   *   x = 10, 12, 11, 15, 13: μ = 12.2, σ̂_within = MR̄/d2(2) = 1.125√π
   *   deviations −2.2, −0.2, −1.2, 2.8, 0.8 → Σ² = 4.84 + 0.04 + 1.44 + 7.84 + 0.64 = 14.8, σ_overall = √3.7
   *   LSL 5, USL 20: Cp = 15/(6.75√π), Cpk = min(7.8, 7.2)/(3.375√π); Pp = 15/(6√3.7), Ppk = 7.2/(3√3.7)
   */
  const values = [10, 12, 11, 15, 13];
  const chart = individualsChart(values.map((value) => ({ value })));
  const c = capability(values, chart.limits.sigmaWithin, { lsl: 5, usl: 20 });

  it('matches the hand computation', () => {
    const sqrtPi = Math.sqrt(Math.PI);
    expectClose(c.cp, 15 / (6.75 * sqrtPi));
    expectClose(c.cpk, 7.2 / (3.375 * sqrtPi));
    expectClose(c.pp, 15 / (6 * Math.sqrt(3.7)));
    expectClose(c.ppk, 7.2 / (3 * Math.sqrt(3.7)));
  });
});

describe('capability: null, never Infinity or NaN', () => {
  it('fewer than 2 values', () => {
    for (const values of [[], [5]]) {
      const c = capability(values, 1, { lsl: 0, usl: 10 });
      expect([c.cp, c.cpk, c.cpu, c.cpl, c.pp, c.ppk, c.ppu, c.ppl]).toEqual(Array(8).fill(null));
      expect(c.sigmaOverall).toBeNull();
      expectAllFinite(c);
    }
  });

  it('σ = 0 overall or within', () => {
    const constant = capability([3, 3, 3], 0, { lsl: 0, usl: 10 });
    expect(constant.sigmaOverall).toBe(0);
    expect([constant.cp, constant.cpk, constant.pp, constant.ppk]).toEqual([null, null, null, null]);
    expectAllFinite(constant);
    const noWithin = capability([1, 2, 3], null, { lsl: 0, usl: 10 });
    expect(noWithin.cp).toBeNull();
    expect(noWithin.pp).not.toBeNull();
  });

  it('no spec limits: nothing to compare with', () => {
    const c = capability([1, 2, 3], 1, {});
    expect([c.cp, c.cpk, c.pp, c.ppk]).toEqual([null, null, null, null]);
  });

  it('rejects a spec with LSL not below USL, or a negative σ', () => {
    expect(() => capability([1, 2], 1, { lsl: 5, usl: 5 })).toThrow(/LSL \(5\) must be below USL \(5\)/);
    expect(() => capability([1, 2], -1, { usl: 5 })).toThrow(/sigmaWithin/);
    expect(() => capability([1, Number.NaN], 1, { usl: 5 })).toThrow(/value 1/);
  });
});
