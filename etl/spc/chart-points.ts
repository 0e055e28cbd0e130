/**
 * What every control chart returns, and the plumbing the chart modules share: which limits judge
 * which point (Phase I / Phase II, spc.md §2) and how a point's limits follow from its centre and σ.
 *
 * Numbers that cannot be computed (no data, a single value, an empty subgroup) are null, never NaN
 * or Infinity, so the points can be stored and charted as they are.
 */

export type ChartKind = 'I-MR' | 'Xbar-R' | 'Xbar-S' | 'p';

/** Phase I: the point helped set the limits it is judged by. Phase II: judged by limits set before it. */
export type Phase = 'I' | 'II';

export interface ChartPoint {
  /** Position in the charted series, 0-based; the same on the main and the paired chart. */
  index: number;
  /** Carried through from the input (a subgroup's start), never interpreted here. */
  time?: string;
  /** Carried through from the input (e.g. the subgroup key). */
  key?: string;
  /** Observations behind the plotted statistic: 1 on an I chart, 2 on an MR chart. */
  n: number;
  /** The plotted statistic (x, x̄, R, S, MR or p). */
  value: number | null;
  cl: number | null;
  ucl: number | null;
  lcl: number | null;
  /** σ of the plotted statistic at this point: the unit of the zones for the Nelson rules. */
  sigma: number | null;
  phase: Phase;
}

/**
 * Everything the limits of a chart pair follow from; what spc_limits stores when limits are frozen.
 * Variables charts: cl = x̄ or x̿, sigmaWithin = σ̂ within subgroups.
 * p-chart: cl = p̄, sigmaWithin = √(p̄(1 − p̄)), the σ of one inspected unit (a point's σ is that / √nᵢ).
 */
export interface Limits {
  cl: number | null;
  sigmaWithin: number | null;
}

/** Limits from the first subgroups of a series, with how many there were (fewer than asked when the series is short). */
export interface BaselineLimits extends Limits {
  subgroups: number;
}

/**
 * window: limits from the charted data itself (Phase I throughout).
 * baseline: limits from the first N subgroups of the charted data (Phase I for those, II after).
 * frozen: limits given from an earlier baseline (Phase II throughout).
 */
export type LimitsSource = 'window' | 'baseline' | 'frozen';

export interface ChartOptions {
  /** Stored limits from an earlier baseline: Phase II. */
  frozen?: Limits;
  /** Set the limits from the first this-many subgroups and judge the rest against them. */
  baseline?: number;
}

export interface ControlChart {
  chart: ChartKind;
  /** The I, X̄ or p chart. */
  main: ChartPoint[];
  /** The MR, R or S chart, point for point with `main`; empty for a p-chart. */
  paired: ChartPoint[];
  /** The limits the points are judged by. */
  limits: Limits;
  limitsFrom: LimitsSource;
}

export interface ResolvedLimits {
  limits: Limits;
  limitsFrom: LimitsSource;
  phase: (index: number) => Phase;
}

/**
 * Picks the limits for a chart of `count` subgroups: frozen ones as given, or those that
 * `fromFirst(k)` computes from the first k subgroups (k = count for the whole window).
 */
export function resolveLimits(options: ChartOptions | undefined, count: number, fromFirst: (k: number) => Limits): ResolvedLimits {
  const { frozen, baseline } = options ?? {};
  if (frozen !== undefined && baseline !== undefined) {
    throw new Error('give a chart either frozen limits (Phase II) or a baseline subgroup count, not both');
  }
  if (frozen !== undefined) {
    if (frozen.cl !== null) requireFinite(frozen.cl, 'frozen limits: cl');
    if (frozen.sigmaWithin !== null) {
      requireFinite(frozen.sigmaWithin, 'frozen limits: sigmaWithin');
      if (frozen.sigmaWithin < 0) throw new RangeError(`frozen limits: sigmaWithin must be ≥ 0, got ${frozen.sigmaWithin}`);
    }
    return { limits: { cl: frozen.cl, sigmaWithin: frozen.sigmaWithin }, limitsFrom: 'frozen', phase: () => 'II' };
  }
  if (baseline !== undefined) {
    checkBaselineCount(baseline);
    return { limits: fromFirst(Math.min(baseline, count)), limitsFrom: 'baseline', phase: (i) => (i < baseline ? 'I' : 'II') };
  }
  return { limits: fromFirst(count), limitsFrom: 'window', phase: () => 'I' };
}

export function checkBaselineCount(count: number): void {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`a baseline is a whole number of subgroups ≥ 1, got ${count}`);
  }
}

export interface PointInput {
  index: number;
  time?: string | undefined;
  key?: string | undefined;
  n: number;
  value: number | null;
  cl: number | null;
  sigma: number | null;
  phase: Phase;
  /** Where the statistic cannot go (0 for R, S, MR and p; 1 for p): limits are clipped to it. */
  floor?: number;
  ceiling?: number;
}

/** A point with limits cl ± 3σ, clipped to the statistic's possible range. */
export function chartPoint(p: PointInput): ChartPoint {
  const { cl, sigma } = p;
  let ucl = cl !== null && sigma !== null ? cl + 3 * sigma : null;
  let lcl = cl !== null && sigma !== null ? cl - 3 * sigma : null;
  if (ucl !== null && p.ceiling !== undefined) ucl = Math.min(ucl, p.ceiling);
  if (lcl !== null && p.floor !== undefined) lcl = Math.max(lcl, p.floor);
  const point: ChartPoint = {
    index: p.index,
    n: p.n,
    value: p.value,
    cl: p.cl,
    ucl,
    lcl,
    sigma: p.sigma,
    phase: p.phase,
  };
  if (p.time !== undefined) point.time = p.time;
  if (p.key !== undefined) point.key = p.key;
  return point;
}

/** Rejects values the maths cannot chart, naming where they are. */
export function requireFinite(value: number, where: string): void {
  if (!Number.isFinite(value)) throw new RangeError(`${where} must be a finite number, got ${value}`);
}
