/**
 * What a single sampling plan (n, c) promises, computed exactly (pure): the operating
 * characteristic Pa(p) by the binomial distribution for a process with fraction nonconforming p
 * (type B), and by the hypergeometric for a lot of N units with D nonconforming (type A); the
 * producer's risk α at the AQL, the consumer's risk β at the LTPD, the LTPD at Pa = 0.10,
 * AOQ(p) = Pa·p·(N − n)/N with its maximum AOQL, and ATI(p) = n + (1 − Pa)(N − n).
 *
 * The sums are of terms built by their ratio in log space, so n in the thousands neither
 * overflows a binomial coefficient nor underflows (1 − p)^n before the terms are added.
 */

function logSumExp(logs: readonly number[]): number {
  const finite = logs.filter((l) => l > -Infinity);
  if (finite.length === 0) return -Infinity;
  const m = Math.max(...finite);
  let s = 0;
  for (const l of finite) s += Math.exp(l - m);
  return m + Math.log(s);
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

function checkPlan(n: number, c: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`sample size ${n}: expected a whole number of at least 1`);
  if (!Number.isInteger(c) || c < 0) throw new RangeError(`acceptance number ${c}: expected a whole number of at least 0`);
}

/** P(X ≤ c) for X ~ Binomial(n, p): the probability that a lot from a process at p is accepted. */
export function binomialPa(n: number, c: number, p: number): number {
  checkPlan(n, c);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`fraction nonconforming ${p}: expected 0 … 1`);
  if (c >= n || p === 0) return 1;
  if (p === 1) return 0;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  const logs: number[] = [n * lq];
  for (let d = 0; d < c; d++) logs.push(logs[d]! + Math.log(n - d) - Math.log(d + 1) + lp - lq);
  return clamp01(Math.exp(logSumExp(logs)));
}

/** ln C(a, b), summed term by term (exact to rounding for the sizes sampling uses). */
export function logChoose(a: number, b: number): number {
  if (b < 0 || b > a) return -Infinity;
  const k = Math.min(b, a - b);
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(a - k + i) - Math.log(i);
  return s;
}

/** P(X ≤ c) for X hypergeometric: n drawn without replacement from N units of which D are nonconforming. */
export function hypergeometricPa(lotSize: number, n: number, c: number, defectivesInLot: number): number {
  checkPlan(n, c);
  const N = lotSize;
  const D = defectivesInLot;
  if (!Number.isInteger(N) || N < n) throw new RangeError(`lot size ${N}: expected a whole number of at least the sample size ${n}`);
  if (!Number.isInteger(D) || D < 0 || D > N) throw new RangeError(`nonconforming units in the lot ${D}: expected a whole number 0 … ${N}`);
  if (c >= Math.min(n, D)) return 1;
  const lo = Math.max(0, n - (N - D));
  const hi = Math.min(c, n, D);
  if (lo > hi) return 0;
  const base = logChoose(N, n);
  const logs: number[] = [logChoose(D, lo) + logChoose(N - D, n - lo) - base];
  for (let d = lo; d < hi; d++) {
    logs.push(logs[logs.length - 1]! + Math.log(D - d) + Math.log(n - d) - Math.log(d + 1) - Math.log(N - D - n + d + 1));
  }
  return clamp01(Math.exp(logSumExp(logs)));
}

export interface SinglePlan {
  n: number;
  /** Acceptance number: accept with at most c nonconforming in the sample. */
  c: number;
}

/** The lot's OC at a fraction p: the hypergeometric at D = round(p·N) when N is known, else the binomial. */
export function pa(plan: SinglePlan, p: number, lotSize?: number): number {
  if (lotSize === undefined) return binomialPa(plan.n, plan.c, p);
  return hypergeometricPa(lotSize, Math.min(plan.n, lotSize), plan.c, Math.round(p * lotSize));
}

/** Producer's risk: the chance of rejecting a process at the AQL (a fraction, not percent). */
export function producersRisk(plan: SinglePlan, aql: number): number {
  return 1 - binomialPa(plan.n, plan.c, aql);
}

/** Consumer's risk: the chance of accepting a process at the LTPD. */
export function consumersRisk(plan: SinglePlan, ltpd: number): number {
  return binomialPa(plan.n, plan.c, ltpd);
}

/** The fraction p at which Pa(p) = target (default 0.10: the LTPD), by bisection; Pa falls with p. */
export function fractionAtPa(plan: SinglePlan, target = 0.1): number {
  if (!(target > 0 && target < 1)) throw new RangeError(`Pa ${target}: expected strictly between 0 and 1`);
  if (plan.c >= plan.n) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-14; i++) {
    const mid = (lo + hi) / 2;
    if (binomialPa(plan.n, plan.c, mid) > target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Average outgoing quality with rejected lots screened and every nonconforming unit found replaced. */
export function aoq(plan: SinglePlan, p: number, lotSize: number): number {
  const n = Math.min(plan.n, lotSize);
  return binomialPa(n, plan.c, p) * p * ((lotSize - n) / lotSize);
}

/** Average total inspection per lot: the sample, plus the rest of every rejected lot. */
export function ati(plan: SinglePlan, p: number, lotSize: number): number {
  const n = Math.min(plan.n, lotSize);
  return n + (1 - binomialPa(n, plan.c, p)) * (lotSize - n);
}

/** The worst average outgoing quality over p, and where it is (a scan, then golden-section refinement). */
export function aoql(plan: SinglePlan, lotSize: number): { aoql: number; atP: number } {
  if (Math.min(plan.n, lotSize) >= lotSize) return { aoql: 0, atP: 0 };
  const upper = Math.min(1, fractionAtPa(plan, 1e-6));
  const steps = 400;
  let best = 0;
  for (let i = 1; i <= steps; i++) if (aoq(plan, (upper * i) / steps, lotSize) > aoq(plan, (upper * best) / steps, lotSize)) best = i;
  let a = (upper * Math.max(0, best - 1)) / steps;
  let b = (upper * Math.min(steps, best + 1)) / steps;
  const phi = (Math.sqrt(5) - 1) / 2;
  for (let i = 0; i < 200 && b - a > 1e-15; i++) {
    const x1 = b - phi * (b - a);
    const x2 = a + phi * (b - a);
    if (aoq(plan, x1, lotSize) < aoq(plan, x2, lotSize)) a = x1;
    else b = x2;
  }
  const atP = (a + b) / 2;
  return { aoql: aoq(plan, atP, lotSize), atP };
}

export interface DesignRequest {
  /** Fractions, not percent. */
  aql: number;
  ltpd: number;
  alpha: number;
  beta: number;
  /** A lot of this size: the hypergeometric at D = round(p·N) instead of the binomial. */
  lotSize?: number;
  /** Give up above this sample size (default: the lot size, or 100 000). */
  maxN?: number;
}

export interface DesignResult extends SinglePlan {
  /** Pa at the AQL and the LTPD, and the risks they give. */
  paAtAql: number;
  paAtLtpd: number;
  alpha: number;
  beta: number;
}

/**
 * The smallest single sampling plan with Pa(AQL) ≥ 1 − α and Pa(LTPD) ≤ β: for c = 0, 1, … the
 * smallest n meeting β (Pa falls with n), kept as soon as it also meets α. The sample size
 * meeting β grows with c, so the first c that works gives the smallest n; null when none does
 * within maxN.
 */
export function designPlan(req: DesignRequest): DesignResult | null {
  const { aql, ltpd, alpha, beta, lotSize } = req;
  if (!(aql > 0 && ltpd > aql && ltpd < 1)) throw new RangeError(`expected 0 < AQL < LTPD < 1, got AQL ${aql}, LTPD ${ltpd}`);
  if (!(alpha > 0 && alpha < 1 && beta > 0 && beta < 1)) throw new RangeError(`expected risks strictly between 0 and 1, got α ${alpha}, β ${beta}`);
  const maxN = req.maxN ?? lotSize ?? 100_000;
  const at = (n: number, c: number, p: number) => (lotSize === undefined ? binomialPa(n, c, p) : hypergeometricPa(lotSize, n, c, Math.round(p * lotSize)));
  for (let c = 0; c < maxN; c++) {
    if (at(maxN, c, ltpd) > beta) return null;
    let lo = c + 1;
    let hi = maxN;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (at(mid, c, ltpd) <= beta) hi = mid;
      else lo = mid + 1;
    }
    const paAql = at(lo, c, aql);
    if (paAql >= 1 - alpha) {
      const paLtpd = at(lo, c, ltpd);
      return { n: lo, c, paAtAql: paAql, paAtLtpd: paLtpd, alpha: 1 - paAql, beta: paLtpd };
    }
  }
  return null;
}

/** Points of the OC and AOQ curves for a chart: p from 0 to where Pa has fallen below 0.5 %. */
export function curvePoints(plan: SinglePlan, lotSize: number, points = 60): { p: number; paProcess: number; paLot: number; aoq: number }[] {
  const upper = Math.min(1, fractionAtPa(plan, 0.005) * 1.1);
  return Array.from({ length: points + 1 }, (_, i) => {
    const p = (upper * i) / points;
    return { p, paProcess: binomialPa(plan.n, plan.c, p), paLot: pa(plan, p, lotSize), aoq: aoq(plan, p, lotSize) };
  });
}
