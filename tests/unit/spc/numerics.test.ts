import { describe, expect, it } from 'vitest';
import { compositeNodes, gaussLegendre, integrate } from '../../../etl/spc/gauss-legendre.js';
import { logGamma } from '../../../etl/spc/log-gamma.js';
import { erfc, normalCdf, normalUpperTail } from '../../../etl/spc/normal-distribution.js';
import { expectClose } from './expect-close.js';

// Reference values computed with mpmath 1.3 at 30 significant digits (erfc, ncdf, loggamma),
// rounded to 17 digits.
describe('erfc (Cody)', () => {
  const reference: [number, number][] = [
    [-3, 1.9999779095030014],
    [-0.3, 1.3286267594591274],
    [0, 1],
    [0.2, 0.77729741078952153],
    [0.46875, 0.50738652678206201], // the edge of Cody's first interval
    [0.5, 0.47950012218695346],
    [1, 0.15729920705028513],
    [2, 0.0046777349810472658],
    [3, 2.2090496998585441e-5],
    [4, 1.5417257900280019e-8], // the edge of the second interval
    [4.5, 1.9661604415428875e-10],
    [5, 1.5374597944280349e-12],
    [10, 2.0884875837625448e-45],
    [20, 5.3958656116079009e-176],
    [26, 5.6631924088561428e-296],
  ];
  it.each(reference)('erfc(%s) to 1e-15 relative', (x, expected) => {
    expectClose(erfc(x), expected, 1e-15);
  });

  it('underflows to 0 far out and is 2 far to the left', () => {
    expect(erfc(30)).toBe(0);
    expect(erfc(-30)).toBe(2);
    expect(Number.isNaN(erfc(Number.NaN))).toBe(true);
  });
});

describe('normal distribution', () => {
  const reference: [number, number, number][] = [
    [-8, 6.2209605742717841e-16, 0.99999999999999938],
    [-3, 0.0013498980316300945, 0.99865010196836991],
    [-1.96, 0.024997895148220436, 0.97500210485177956],
    [0, 0.5, 0.5],
    [1, 0.84134474606854295, 0.15865525393145705],
    [5, 0.99999971334842812, 2.8665157187919391e-7],
    [8, 0.99999999999999938, 6.2209605742717839e-16],
  ];
  // Rounding x/√2 costs up to ~x²·2⁻⁵² relative in the tails (1.4e-14 at |x| = 8), hence 1e-14.
  it.each(reference)('Φ(%s) and its upper tail, each accurate in its own tail', (x, cdf, upper) => {
    expectClose(normalCdf(x), cdf, 1e-14);
    expectClose(normalUpperTail(x), upper, 1e-14);
  });
});

describe('logGamma (Lanczos)', () => {
  const reference: [number, number][] = [
    [0.1, 2.2527126517342059],
    [0.5, 0.57236494292470009], // ln √π
    [2.5, 0.28468287047291916],
    [10, 12.80182748008147], // ln 9!
    [100.5, 361.43554046777762],
    [1000, 5905.2204232091812],
  ];
  it.each(reference)('ln Γ(%s)', (x, expected) => {
    expectClose(logGamma(x), expected, 1e-14);
  });
  it('is 0 at 1 and 2', () => {
    expect(Math.abs(logGamma(1))).toBeLessThan(1e-15);
    expect(Math.abs(logGamma(2))).toBeLessThan(1e-15);
  });
  it('rejects x ≤ 0', () => {
    expect(() => logGamma(0)).toThrow(/x > 0/);
    expect(() => logGamma(-1)).toThrow(RangeError);
  });
});

describe('Gauss–Legendre', () => {
  it('the m-point rule integrates polynomials of degree 2m − 1 exactly', () => {
    for (const m of [1, 2, 5, 12, 20]) {
      const rule = gaussLegendre(m);
      expect(rule.nodes).toHaveLength(m);
      const sumOfWeights = rule.weights.reduce((a, b) => a + b, 0);
      expectClose(sumOfWeights, 2, 1e-14);
      for (let k = 0; k <= 2 * m - 1; k++) {
        const exact = k % 2 === 1 ? 0 : 2 / (k + 1);
        const approx = rule.nodes.reduce((sum, x, i) => sum + rule.weights[i]! * x ** k, 0);
        expect(Math.abs(approx - exact), `m=${m}, x^${k}`).toBeLessThan(1e-14);
      }
    }
  });

  it('composite rule: ∫₀^π sin = 2, ∫ standard normal density over [−10, 10] = 1', () => {
    expectClose(integrate(Math.sin, 0, Math.PI), 2, 1e-14);
    expectClose(integrate((x) => Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI), -10, 10), 1, 1e-14);
  });

  it('composite nodes cover the interval panel by panel', () => {
    const { x, w } = compositeNodes(gaussLegendre(3), 0, 2, 4);
    expect(x).toHaveLength(12);
    expectClose(w.reduce((a, b) => a + b, 0), 2, 1e-15);
    expect(x.every((v, i) => i === 0 || v > x[i - 1]!)).toBe(true);
  });

  it('rejects a rule of no points', () => {
    expect(() => gaussLegendre(0)).toThrow(RangeError);
  });
});
