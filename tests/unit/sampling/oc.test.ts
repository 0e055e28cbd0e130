/**
 * OC, risks, AOQ, AOQL, ATI and the design of a plan, against sums written out by hand here.
 */
import { describe, expect, it } from 'vitest';
import { aoq, aoql, ati, binomialPa, consumersRisk, curvePoints, designPlan, fractionAtPa, hypergeometricPa, producersRisk } from '../../../etl/sampling/oc.js';

/** C(n, k) by the multiplicative formula: independent of the module's log-space sums. */
function choose(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}
const naiveBinomial = (n: number, c: number, p: number) => {
  let s = 0;
  for (let d = 0; d <= c; d++) s += choose(n, d) * p ** d * (1 - p) ** (n - d);
  return s;
};

describe('binomial OC (a process)', () => {
  it('n 5, c 1, p 0.1: 0.9^5 + 5 · 0.1 · 0.9^4 = 0.59049 + 0.32805', () => {
    expect(binomialPa(5, 1, 0.1)).toBeCloseTo(0.91854, 12);
  });
  it('n 5, c 0, p 0.2: 0.8^5', () => {
    expect(binomialPa(5, 0, 0.2)).toBeCloseTo(0.32768, 12);
  });
  it('ends: p 0 always accepts, p 1 never, c ≥ n always', () => {
    expect(binomialPa(20, 0, 0)).toBe(1);
    expect(binomialPa(20, 2, 1)).toBe(0);
    expect(binomialPa(3, 3, 0.9)).toBe(1);
  });
  it('large n stays exact: n 3 150, c 44, p 0.012 matches the naive sum', () => {
    expect(binomialPa(3150, 44, 0.012)).toBeCloseTo(naiveBinomial(3150, 44, 0.012), 10);
  });
});

describe('hypergeometric OC (a lot of N units), worked out by hand', () => {
  it('N 10, n 3, D 2: c 0 = C(8,3)/C(10,3) = 56/120; c 1 = (56 + 2 · 28)/120', () => {
    expect(hypergeometricPa(10, 3, 0, 2)).toBeCloseTo(56 / 120, 12);
    expect(hypergeometricPa(10, 3, 1, 2)).toBeCloseTo(112 / 120, 12);
  });
  it('N 10, n 3, D 3, c 1: (C(7,3) + 3 · C(7,2)) / 120 = (35 + 63) / 120', () => {
    expect(hypergeometricPa(10, 3, 1, 3)).toBeCloseTo(98 / 120, 12);
  });
  it('N 5, n 4, D 3: at least 2 nonconforming in every sample, so c 1 never accepts; c 2 = C(3,2) C(2,2) / C(5,4) = 3/5', () => {
    expect(hypergeometricPa(5, 4, 1, 3)).toBe(0);
    expect(hypergeometricPa(5, 4, 2, 3)).toBeCloseTo(0.6, 12);
  });
});

describe('a textbook plan: Montgomery, Introduction to Statistical Quality Control, n 89, c 2', () => {
  const plan = { n: 89, c: 2 };
  const hand = (p: number) => (1 - p) ** 89 + 89 * p * (1 - p) ** 88 + ((89 * 88) / 2) * p ** 2 * (1 - p) ** 87;
  it('Pa at p 0.01 is the three-term sum, 0.9397 as the book prints it', () => {
    expect(binomialPa(89, 2, 0.01)).toBeCloseTo(hand(0.01), 12);
    expect(binomialPa(89, 2, 0.01)).toBeCloseTo(0.9397, 4);
  });
  it('α at an AQL of 1 % and β at an LTPD of 6 %, from the same sums', () => {
    expect(producersRisk(plan, 0.01)).toBeCloseTo(1 - hand(0.01), 12);
    expect(consumersRisk(plan, 0.06)).toBeCloseTo(hand(0.06), 12);
  });
});

describe('LTPD, AOQ, AOQL and ATI of the plan n 20, c 0 on lots of 100', () => {
  const plan = { n: 20, c: 0 };
  it('the LTPD at Pa 0.10 solves 0.9^… : (1 − p)^20 = 0.1, p = 1 − 0.1^(1/20)', () => {
    expect(fractionAtPa(plan, 0.1)).toBeCloseTo(1 - 0.1 ** (1 / 20), 10);
  });
  it('AOQ at p 0.05 = 0.95^20 · 0.05 · 80/100; ATI = 20 + (1 − 0.95^20) · 80', () => {
    expect(aoq(plan, 0.05, 100)).toBeCloseTo(0.95 ** 20 * 0.05 * 0.8, 12);
    expect(ati(plan, 0.05, 100)).toBeCloseTo(20 + (1 - 0.95 ** 20) * 80, 10);
  });
  it('the AOQL of a c = 0 plan is at p = 1/(n + 1): (n/(n+1))^n / (n+1) · (N − n)/N', () => {
    const r = aoql(plan, 100);
    expect(r.atP).toBeCloseTo(1 / 21, 6);
    expect(r.aoql).toBeCloseTo((20 / 21) ** 20 / 21 * 0.8, 10);
  });
  it('a sample of the whole lot lets nothing through: AOQL 0', () => {
    expect(aoql({ n: 50, c: 1 }, 50).aoql).toBe(0);
  });
  it('curve points start at Pa 1 and fall', () => {
    const pts = curvePoints(plan, 100);
    expect(pts[0]).toMatchObject({ p: 0, paProcess: 1, paLot: 1, aoq: 0 });
    expect(pts[pts.length - 1]!.paProcess).toBeLessThan(0.01);
  });
});

describe('designing the smallest plan', () => {
  it('AQL 1 %, LTPD 10 %, α 0.05, β 0.10: c 0 and c 1 cannot meet both risks; the plan found is the first n of the first c that does', () => {
    const r = designPlan({ aql: 0.01, ltpd: 0.1, alpha: 0.05, beta: 0.1 })!;
    // c = 0 needs 0.9^n ≤ 0.1, n = 22, where 0.99^22 = 0.80 < 0.95; c = 1 needs n = 38, where Pa(1 %) = 0.944 < 0.95.
    expect(naiveBinomial(22, 0, 0.1)).toBeLessThanOrEqual(0.1);
    expect(naiveBinomial(21, 0, 0.1)).toBeGreaterThan(0.1);
    expect(naiveBinomial(22, 0, 0.01)).toBeLessThan(0.95);
    expect(naiveBinomial(38, 1, 0.1)).toBeLessThanOrEqual(0.1);
    expect(naiveBinomial(37, 1, 0.1)).toBeGreaterThan(0.1);
    expect(naiveBinomial(38, 1, 0.01)).toBeLessThan(0.95);
    expect(r.c).toBe(2);
    expect(naiveBinomial(r.n, 2, 0.1)).toBeLessThanOrEqual(0.1);
    expect(naiveBinomial(r.n - 1, 2, 0.1)).toBeGreaterThan(0.1);
    expect(naiveBinomial(r.n, 2, 0.01)).toBeGreaterThanOrEqual(0.95);
    expect(r.alpha).toBeCloseTo(1 - naiveBinomial(r.n, 2, 0.01), 12);
    expect(r.beta).toBeCloseTo(naiveBinomial(r.n, 2, 0.1), 12);
  });
  it('for a lot of 60 the hypergeometric decides (D = 1 at the AQL, 6 at the LTPD): c 0 rejects a good lot too often, c 1 never', () => {
    const hyper = (N: number, n: number, c: number, D: number) => {
      let s = 0;
      for (let d = 0; d <= c; d++) s += (choose(D, d) * choose(N - D, n - d)) / choose(N, n);
      return s;
    };
    const r = designPlan({ aql: 0.01, ltpd: 0.1, alpha: 0.05, beta: 0.1, lotSize: 60 })!;
    expect(r.c).toBe(1);
    expect(hyper(60, r.n, 1, 6)).toBeLessThanOrEqual(0.1);
    expect(hyper(60, r.n - 1, 1, 6)).toBeGreaterThan(0.1);
    expect(r.paAtAql).toBeCloseTo(1, 12);
    expect(designPlan({ aql: 0.01, ltpd: 0.02, alpha: 0.01, beta: 0.01, lotSize: 50 })).toBeNull();
  });
  it('refuses an LTPD not above the AQL', () => {
    expect(() => designPlan({ aql: 0.05, ltpd: 0.05, alpha: 0.05, beta: 0.1 })).toThrow(/AQL < LTPD/);
  });
});
