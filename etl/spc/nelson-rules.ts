/**
 * Nelson's eight tests for special causes (spc.md §3), on the points of one chart.
 *
 * Zones are measured from each point's own CL in units of its own σ (the σ of the plotted
 * statistic there), so charts whose limits vary from point to point (unequal subgroups, p-charts)
 * are judged point by point. All comparisons are strict, as the contract says:
 * - a point exactly on CL is on neither side, so it breaks a same-side run (rule 2);
 * - two equal consecutive values are neither an increase nor a decrease, so they break a trend
 *   (rule 3) and an alternation (rule 4);
 * - "beyond kσ" means |x − CL| > kσ: a point exactly on the 1σ, 2σ or 3σ line is within it.
 * A point is flagged for a rule when the window ending at it completes the pattern, so a run that
 * goes on flags each further point (as Minitab and qcc do).
 *
 * Points without a value (the first MR, the S of a one-value subgroup), without a CL, or (for the
 * zone tests) without a σ fit no pattern: they break runs and do not count in "k of m" windows.
 * A σ of 0 (a constant baseline) is used as it is: any point off CL is then beyond every line.
 * That is why the job never freezes such limits (etl/spc-judge.ts judges by the window instead).
 */
import type { ChartKind } from './chart-points.js';

export type RuleNumber = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;
export type Side = 'above' | 'below';

export const ALL_RULES: readonly RuleNumber[] = [1, 2, 3, 4, 5, 6, 7, 8];
/** Which rules are on unless the measure's config says otherwise (spc.md §3). */
export const DEFAULT_RULES: readonly RuleNumber[] = [1, 2, 3, 5, 6];
/** Rules 5–8 assume a normal statistic; a p-chart's binomial points are judged by 1–4 only. */
export const P_CHART_RULES: readonly RuleNumber[] = [1, 2, 3, 4];

/** Indices are positions in the array of points judged; for a chart's points that is their `index`. */
export interface Violation {
  rule: RuleNumber;
  /** The point the rule flags: the last point of the pattern. */
  pointIndex: number;
  /**
   * The first point of the rule's window (spc.md §3): the run of rules 2, 3, 4, 7 and 8, and for
   * rules 5 and 6 the whole "k of m" window (the m points ending at the flagged one, fewer at the
   * start of the series), whether or not its first point is itself beyond the line.
   */
  firstIndex: number;
  /** The side of CL for rules 1, 2, 5 and 6; null for the others, which are not about one side. */
  side: Side | null;
}

/** What the rules read from a chart point (a ChartPoint has all of it). */
export interface RulePoint {
  value: number | null;
  cl: number | null;
  sigma: number | null;
}

/** "count of window points in a row beyond the line, on the same side". */
export interface CountInWindow {
  count: number;
  window: number;
}

export interface RuleSettings {
  enabled: readonly RuleNumber[];
  /** Rule 2: points in a row on one side of CL. Nelson 9; Western Electric 8; AIAG 7. */
  sameSideRun: number;
  /**
   * Rule 3: points in a row steadily increasing or decreasing, counted in points as Minitab words
   * its Test 3, "6 points in a row, all increasing or all decreasing": 6 points are 5 increases.
   */
  trendRun: number;
  /** Rule 4: points in a row alternating up and down (Minitab: "14 points in a row, alternating up and down"). */
  alternatingRun: number;
  /** Rule 5: 2 of 3 points beyond 2σ, same side. */
  beyondTwoSigma: CountInWindow;
  /** Rule 6: 4 of 5 points beyond 1σ, same side. */
  beyondOneSigma: CountInWindow;
  /** Rule 7: points in a row within 1σ, either side. */
  withinOneSigmaRun: number;
  /** Rule 8: points in a row beyond 1σ, none within 1σ, with points on both sides of CL (the mixture test). */
  outsideOneSigmaRun: number;
}

export const DEFAULT_RULE_SETTINGS: RuleSettings = {
  enabled: DEFAULT_RULES,
  sameSideRun: 9,
  trendRun: 6,
  alternatingRun: 14,
  beyondTwoSigma: { count: 2, window: 3 },
  beyondOneSigma: { count: 4, window: 5 },
  withinOneSigmaRun: 15,
  outsideOneSigmaRun: 8,
};

/**
 * Rules judged on the paired chart (MR, R or S): test 1 only, as Minitab and qcc do. A range or an
 * SD is skewed and consecutive moving ranges share a value, so the run and zone tests would not
 * have their usual false-alarm rates there. On a paired point cl ± 3σ are its UCL and the unclipped
 * LCL, so rule 1 flags a point above UCL or below an LCL above zero (below a clipped LCL of 0 no
 * range can fall).
 */
export const PAIRED_CHART_RULES: readonly RuleNumber[] = [1];

/**
 * The enabled rules that apply to a chart kind: p-charts use rules 1–4 only (spc.md §3). Omitted,
 * the default set: for a p-chart that is 1, 2, 3 (rule 4 only when configured).
 */
export function applicableRules(chart: ChartKind, enabled: readonly RuleNumber[] = DEFAULT_RULES): RuleNumber[] {
  return enabled.filter((r) => chart !== 'p' || P_CHART_RULES.includes(r));
}

/** The measure's enabled rules that the paired chart is judged by: rule 1 when it is on. */
export function pairedChartRules(enabled: readonly RuleNumber[]): RuleNumber[] {
  return enabled.filter((r) => PAIRED_CHART_RULES.includes(r));
}

function checkRun(value: number, name: string, smallest: number): void {
  if (!Number.isInteger(value) || value < smallest) {
    throw new RangeError(`rule settings: ${name} must be a whole number ≥ ${smallest}, got ${value}`);
  }
}

function checkSettings(s: RuleSettings): void {
  for (const r of s.enabled) {
    if (!ALL_RULES.includes(r)) throw new RangeError(`rule settings: enabled rules are numbers 1 to 8, got ${String(r)}`);
  }
  checkRun(s.sameSideRun, 'sameSideRun', 2);
  checkRun(s.trendRun, 'trendRun', 2);
  checkRun(s.alternatingRun, 'alternatingRun', 3);
  checkRun(s.withinOneSigmaRun, 'withinOneSigmaRun', 2);
  checkRun(s.outsideOneSigmaRun, 'outsideOneSigmaRun', 2);
  for (const [name, w] of [
    ['beyondTwoSigma', s.beyondTwoSigma],
    ['beyondOneSigma', s.beyondOneSigma],
  ] as const) {
    checkRun(w.count, `${name}.count`, 1);
    checkRun(w.window, `${name}.window`, 1);
    if (w.count > w.window) throw new RangeError(`rule settings: ${name}.count (${w.count}) cannot exceed ${name}.window (${w.window})`);
  }
}

/** Signed distance from CL, or null when the point cannot be placed. */
function deviation(p: RulePoint): number | null {
  return p.value === null || p.cl === null ? null : p.value - p.cl;
}

function sideOf(p: RulePoint): Side | null {
  const d = deviation(p);
  if (d === null || d === 0) return null;
  return d > 0 ? 'above' : 'below';
}

/** The side on which the point lies beyond k σ, or null (within, on the line, or unknown). */
function beyond(p: RulePoint, k: number): Side | null {
  const d = deviation(p);
  if (d === null || p.sigma === null) return null;
  if (d > k * p.sigma) return 'above';
  if (-d > k * p.sigma) return 'below';
  return null;
}

/** |x − CL| ≤ σ; false when unknown. */
function withinOneSigma(p: RulePoint): boolean {
  const d = deviation(p);
  return d !== null && p.sigma !== null && Math.abs(d) <= p.sigma;
}

/** +1 up, −1 down, 0 equal, null when either value is missing. */
function step(previous: RulePoint | undefined, current: RulePoint): number | null {
  if (previous === undefined || previous.value === null || current.value === null) return null;
  return Math.sign(current.value - previous.value);
}

type Check = (points: readonly RulePoint[], s: RuleSettings) => Violation[];

/** Flags every point that ends a run of `length` consecutive points satisfying `holds` (rules 7 and 8: no side). */
function runs(rule: RuleNumber, points: readonly RulePoint[], length: number, holds: (p: RulePoint) => boolean): Violation[] {
  const found: Violation[] = [];
  let run = 0;
  for (let i = 0; i < points.length; i++) {
    run = holds(points[i]!) ? run + 1 : 0;
    if (run >= length) found.push({ rule, pointIndex: i, firstIndex: i - length + 1, side: null });
  }
  return found;
}

const beyondThreeSigma: Check = (points) =>
  points.flatMap((p, i) => {
    const side = beyond(p, 3);
    return side === null ? [] : [{ rule: 1 as const, pointIndex: i, firstIndex: i, side }];
  });

const sameSide: Check = (points, s) => {
  const found: Violation[] = [];
  let run = 0;
  let runSide: Side | null = null;
  for (let i = 0; i < points.length; i++) {
    const side = sideOf(points[i]!);
    if (side === null) run = 0;
    else if (side === runSide) run++;
    else run = 1;
    runSide = side;
    if (side !== null && run >= s.sameSideRun) found.push({ rule: 2, pointIndex: i, firstIndex: i - s.sameSideRun + 1, side });
  }
  return found;
};

/**
 * Rule 3 counts points, and a trend of k points has k − 1 steps in one direction: the run of
 * steps ending at point i must be trendRun − 1 long.
 */
const trend: Check = (points, s) => {
  const found: Violation[] = [];
  let steps = 0;
  let direction = 0;
  for (let i = 0; i < points.length; i++) {
    const d = step(points[i - 1], points[i]!);
    if (d === null || d === 0) steps = 0;
    else if (d === direction) steps++;
    else steps = 1;
    direction = d ?? 0;
    if (steps >= s.trendRun - 1) found.push({ rule: 3, pointIndex: i, firstIndex: i - s.trendRun + 1, side: null });
  }
  return found;
};

/** Rule 4: k points alternating have k − 1 steps, each the opposite of the one before, none zero. */
const alternating: Check = (points, s) => {
  const found: Violation[] = [];
  let steps = 0;
  let last = 0;
  for (let i = 0; i < points.length; i++) {
    const d = step(points[i - 1], points[i]!);
    if (d === null || d === 0) steps = 0;
    else if (last !== 0 && d === -last) steps++;
    else steps = 1;
    last = d ?? 0;
    if (steps >= s.alternatingRun - 1) found.push({ rule: 4, pointIndex: i, firstIndex: i - s.alternatingRun + 1, side: null });
  }
  return found;
};

/**
 * Rules 5 and 6: the point itself is beyond kσ on a side, and with it at least `count` of the last
 * `window` points (fewer at the start of the series) are beyond kσ on that side. The pattern is the
 * window, so its first point is where the window starts: the point within the line in "2 of 3"
 * belongs to it as much as the two beyond.
 */
function countInWindow(rule: 5 | 6, k: number, points: readonly RulePoint[], w: CountInWindow): Violation[] {
  const sides = points.map((p) => beyond(p, k));
  const found: Violation[] = [];
  for (let i = 0; i < points.length; i++) {
    const side = sides[i];
    if (side === null || side === undefined) continue;
    const first = Math.max(0, i - w.window + 1);
    let count = 0;
    for (let j = first; j <= i; j++) if (sides[j] === side) count++;
    if (count >= w.count) found.push({ rule, pointIndex: i, firstIndex: first, side });
  }
  return found;
}

const twoOfThree: Check = (points, s) => countInWindow(5, 2, points, s.beyondTwoSigma);
const fourOfFive: Check = (points, s) => countInWindow(6, 1, points, s.beyondOneSigma);

const stratification: Check = (points, s) => runs(7, points, s.withinOneSigmaRun, withinOneSigma);

/**
 * Rule 8, Nelson's mixture test: the window of `outsideOneSigmaRun` points ending here is all beyond
 * 1σ and holds points on both sides of CL. A run beyond 1σ on one side only is a shift, which rules 2
 * and 6 already flag; flagging it here too would count the same points twice.
 */
const mixture: Check = (points, s) => {
  const found: Violation[] = [];
  const length = s.outsideOneSigmaRun;
  let run = 0;
  let lastAbove = -1;
  let lastBelow = -1;
  for (let i = 0; i < points.length; i++) {
    const side = beyond(points[i]!, 1);
    if (side === null) {
      run = 0;
      continue;
    }
    run++;
    if (side === 'above') lastAbove = i;
    else lastBelow = i;
    const first = i - length + 1;
    if (run >= length && lastAbove >= first && lastBelow >= first) found.push({ rule: 8, pointIndex: i, firstIndex: first, side: null });
  }
  return found;
};

const CHECKS: Record<RuleNumber, Check> = {
  1: beyondThreeSigma,
  2: sameSide,
  3: trend,
  4: alternating,
  5: twoOfThree,
  6: fourOfFive,
  7: stratification,
  8: mixture,
};

/** Every violation of the enabled rules, ordered by point, then rule. */
export function nelsonViolations(points: readonly RulePoint[], settings: Partial<RuleSettings> = {}): Violation[] {
  const s: RuleSettings = { ...DEFAULT_RULE_SETTINGS, ...settings };
  checkSettings(s);
  const enabled = [...new Set(s.enabled)];
  return enabled
    .flatMap((rule) => CHECKS[rule](points, s))
    .sort((a, b) => a.pointIndex - b.pointIndex || a.rule - b.rule);
}
