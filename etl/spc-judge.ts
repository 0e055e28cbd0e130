/**
 * One chart key of one measure, judged (pure): which limits apply (Phase I / Phase II, spc.md §2),
 * the chart, the Nelson rule violations (§3) and the capability of the charted window (§4).
 *
 * Limits, in order of precedence:
 * - frozen limits stored by an earlier run (spc_limits): Phase II, except the points of the
 *   baseline itself, which stay Phase I wherever they appear;
 * - a baseline that is complete now: its limits are computed, frozen (stored by the job) and
 *   judge the window at once;
 * - `firstSubgroups: N` not reached yet: limits from the subgroups there are, all Phase I, not frozen;
 * - no baseline, or a date baseline that has not ended: limits from the charted window itself.
 *
 * Degenerate limits are never frozen: a baseline whose σ̂ is 0 (all its values equal, p̄ = 0 or 1)
 * or missing would turn every later point off CL into a rule-1 signal for as long as the limits
 * stand. Such a chart is judged by the window's own limits and says so in its note; a first-N
 * baseline is tried again by the next run (its first N subgroups move with the window). Limits
 * stored with σ̂ = 0 by an earlier version are passed over the same way, and replaced when a
 * baseline gives usable ones.
 *
 * The main chart is judged by the measure's rules; the paired chart (MR, R or S) by rule 1 only
 * (nelson-rules.ts PAIRED_CHART_RULES), its violations told apart by `panel`.
 */
import { capability, type Capability } from './spc/capability.js';
import type { ChartKind, ChartPoint, ControlChart, Limits, LimitsSource } from './spc/chart-points.js';
import { baselineLimits, chartLimits, controlChart, subgroupCount, type ChartInput } from './spc/charts.js';
import { nelsonViolations, pairedChartRules, type RuleNumber, type Side } from './spc/nelson-rules.js';
import type { BaselineSpec, MeasureSpec, Severity } from './spc-measures.js';

/** Limits as spc_limits stores them. */
export interface FrozenLimits {
  chart: ChartKind;
  cl: number | null;
  sigmaWithin: number | null;
  pairedCl: number | null;
  baselineKind: BaselineSpec['kind'];
  /** Start times of the first and last baseline subgroup (ISO instants). */
  baselineFrom: string | null;
  baselineTo: string | null;
  subgroups: number;
  /**
   * The first instant this version judges (ISO), or null: from the beginning. `yieldrun spc
   * set-limits --from D` starts a version at D; the one before it is kept with D as its end.
   */
  validFrom: string | null;
}

/** A version of limits that a newer one replaced: it judges the points in [validFrom, validTo). */
export interface SupersededLimits extends FrozenLimits {
  validTo: string;
}

/** What a chart whose σ̂ is 0 says instead of flagging every point (spc.md §5). */
export const NO_VARIATION = 'no variation: cannot be judged';

/** Which chart of the pair a violation is on: the I, X̄ or p chart, or its MR, R or S chart. */
export type Panel = 'main' | 'paired';

export interface JudgedViolation {
  panel: Panel;
  rule: RuleNumber;
  side: Side | null;
  /** The flagged point and the first point of its pattern (ISO instants). */
  time: string;
  firstTime: string;
  /** The plotted statistic of its panel: x, x̄ or p on the main chart, MR, R or S on the paired one. */
  value: number | null;
  pointIndex: number;
  /** alarm: opens an out-of-control event and is alerted; warning: shown only (the measure's severity of the rule). */
  severity: Severity;
}

export interface JudgedKey {
  key: string;
  chart: ControlChart;
  /** frozen: stored limits (set now or earlier); baseline: an incomplete first-N baseline; window: the window's own. */
  limitsSource: LimitsSource;
  /** For a person: where the limits come from. */
  note: string;
  /** Limits this run freezes (the job stores them), or null. */
  freeze: FrozenLimits | null;
  violations: JudgedViolation[];
  /** Variables charts with readings; null for p-charts. */
  capability: Capability | null;
  /** Why the rules did not judge the chart (NO_VARIATION), or null when they did. */
  unjudged: string | null;
}

export interface JudgeInput {
  key: string;
  input: ChartInput;
  /** The individual readings (variables charts), for capability. */
  values: readonly number[];
  /** Limits stored by an earlier run for this key. */
  stored?: FrozenLimits | undefined;
  /** Earlier versions of the key's limits, each judging the points of its validity. */
  superseded?: readonly SupersededLimits[] | undefined;
  /** A date baseline's own subgroups, when it has ended (read separately: it may lie before the window). */
  datedBaseline?: { input: ChartInput; complete: boolean } | undefined;
}

export function pairedCentre(chart: ControlChart): number | null {
  return chart.paired.find((p) => p.cl !== null)?.cl ?? null;
}

/** Marks the points inside the baseline that set the limits as Phase I, the others as Phase II. */
function phasesByBaseline(chart: ControlChart, from: string | null, to: string | null): void {
  if (from === null || to === null) return;
  const a = Date.parse(from);
  const b = Date.parse(to);
  const mark = (p: ChartPoint) => {
    const t = p.time === undefined ? NaN : Date.parse(p.time);
    p.phase = t >= a && t <= b ? 'I' : 'II';
  };
  chart.main.forEach(mark);
  chart.paired.forEach(mark);
}

export function timesOf(input: ChartInput): string[] {
  switch (input.chart) {
    case 'I-MR':
      return input.observations.map((o) => o.time ?? '');
    case 'Xbar-R':
    case 'Xbar-S':
      return input.subgroups.map((s) => s.time ?? '');
    case 'p':
      return input.samples.map((s) => s.time ?? '');
  }
}

/** Limits worth freezing: a centre and a σ̂ above zero. */
export function freezable(l: Pick<Limits, 'cl' | 'sigmaWithin'>): boolean {
  return l.cl !== null && l.sigmaWithin !== null && l.sigmaWithin > 0;
}

/** Stored limits that judge a chart: of its type, and not degenerate. */
export function storedLimitsApply(stored: FrozenLimits | undefined, chart: ChartKind): boolean {
  return stored !== undefined && stored.chart === chart && freezable(stored);
}

/** Why limits cannot be frozen, for the note. */
function degenerate(l: Pick<Limits, 'cl' | 'sigmaWithin'>, chart: ChartKind): string {
  if (l.cl === null) return 'no centre line (no data)';
  if (l.sigmaWithin === null) return 'no σ̂ (no subgroup with two values)';
  return chart === 'p' ? `σ̂ = 0 (p̄ = ${l.cl})` : 'σ̂ = 0 (no variation)';
}

function describeFrozen(f: FrozenLimits, setNow: boolean): string {
  const span = f.baselineFrom && f.baselineTo ? ` ${f.baselineFrom.slice(0, 10)} to ${f.baselineTo.slice(0, 10)}` : '';
  return `${setNow ? 'frozen by this run' : 'frozen'}: baseline of ${f.subgroups} subgroups${span}`;
}

type Chosen = Omit<JudgedKey, 'key' | 'violations' | 'capability' | 'unjudged'>;

function frozenChart(input: ChartInput, l: FrozenLimits): ControlChart {
  const chart = controlChart(input, { frozen: { cl: l.cl, sigmaWithin: l.sigmaWithin } });
  phasesByBaseline(chart, l.baselineFrom, l.baselineTo);
  return chart;
}

const instant = (iso: string | null) => (iso === null ? -Infinity : Date.parse(iso));

/**
 * The chart judged by versioned limits: each point by the version valid at its time (the current
 * one from its validFrom on, superseded ones in their [validFrom, validTo)), points before every
 * version by the window's own limits. Each version's chart is computed over the whole input, so a
 * moving range across a version boundary is the same as without versions, and the points are
 * picked from the chart of their version.
 */
function versionedChart(input: ChartInput, current: FrozenLimits, older: readonly SupersededLimits[]): { chart: ControlChart; earlier: number } {
  const versions: { from: number; to: number; limits: FrozenLimits | null }[] = [
    ...older.map((v) => ({ from: instant(v.validFrom), to: Date.parse(v.validTo), limits: v as FrozenLimits })),
    { from: instant(current.validFrom), to: Infinity, limits: current },
  ];
  const base = frozenChart(input, current);
  const charts = new Map<FrozenLimits | null, ControlChart>([[current, base]]);
  const chartOf = (l: FrozenLimits | null) => {
    let c = charts.get(l);
    if (c === undefined) charts.set(l, (c = l === null ? controlChart(input) : frozenChart(input, l)));
    return c;
  };
  let earlier = 0;
  base.main.forEach((p, i) => {
    const t = p.time === undefined ? NaN : Date.parse(p.time);
    const v = versions.find((x) => t >= x.from && t < x.to);
    if (v?.limits === current) return;
    earlier++;
    const c = chartOf(v?.limits ?? null);
    base.main[i] = c.main[i]!;
    if (base.paired.length > 0) base.paired[i] = c.paired[i]!;
  });
  return { chart: base, earlier };
}

function chooseLimits(measure: MeasureSpec, j: JudgeInput): Chosen {
  const { input, stored } = j;
  if (stored && storedLimitsApply(stored, input.chart)) {
    const older = (j.superseded ?? []).filter((v) => storedLimitsApply(v, input.chart));
    if (stored.validFrom === null && older.length === 0) return { chart: frozenChart(input, stored), limitsSource: 'frozen', note: describeFrozen(stored, false), freeze: null };
    const { chart, earlier } = versionedChart(input, stored, older);
    const since = stored.validFrom ? `, valid from ${stored.validFrom.slice(0, 10)}` : '';
    const before = earlier > 0 ? `; ${earlier} earlier point(s) judged by the limits valid at their time` : '';
    return { chart, limitsSource: 'frozen', note: `${describeFrozen(stored, false)}${since}${before}`, freeze: null };
  }
  const chosen = chooseUnfrozen(measure, j);
  if (stored?.chart === input.chart) chosen.note = `stored limits have ${degenerate(stored, input.chart)}, not used; ${chosen.note}`;
  return chosen;
}

function chooseUnfrozen(measure: MeasureSpec, j: JudgeInput): Chosen {
  const { input } = j;
  const b = measure.baseline;
  const count = subgroupCount(input);
  const freezeWith = (limits: Limits & { subgroups: number }, from: string | null, to: string | null, kind: BaselineSpec['kind']) => {
    const chart = controlChart(input, { frozen: { cl: limits.cl, sigmaWithin: limits.sigmaWithin } });
    phasesByBaseline(chart, from, to);
    const freeze: FrozenLimits = { chart: input.chart, cl: limits.cl, sigmaWithin: limits.sigmaWithin, pairedCl: pairedCentre(chart), baselineKind: kind, baselineFrom: from, baselineTo: to, subgroups: limits.subgroups, validFrom: null };
    return { chart, limitsSource: 'frozen' as const, note: describeFrozen(freeze, true), freeze };
  };
  if (b?.kind === 'firstSubgroups') {
    if (count >= b.count) {
      const limits = baselineLimits(input, b.count);
      if (freezable(limits)) {
        const times = timesOf(input);
        return freezeWith(limits, times[0] || null, times[b.count - 1] || null, 'firstSubgroups');
      }
      // Judging by the first N would flag every point off their CL: the window's limits judge
      // instead, and the next run tries the first N of its own window.
      const note = `baseline of the first ${b.count} subgroups has ${degenerate(limits, input.chart)}: not frozen, limits from the window until a baseline varies`;
      return { chart: controlChart(input), limitsSource: 'window', note, freeze: null };
    }
    const chart = controlChart(input, { baseline: b.count });
    return { chart, limitsSource: 'baseline', note: `baseline incomplete: ${Math.min(count, b.count)} of ${b.count} subgroups, limits from those and not frozen yet`, freeze: null };
  }
  if (b?.kind === 'dates' && j.datedBaseline?.complete) {
    const base = j.datedBaseline.input;
    const limits = { ...chartLimits(base), subgroups: subgroupCount(base) };
    if (limits.subgroups < 2) {
      return { chart: controlChart(input), limitsSource: 'window', note: `baseline ${b.from} to ${b.to} has too few subgroups (${limits.subgroups}): limits from the window`, freeze: null };
    }
    if (freezable(limits)) {
      const times = timesOf(base);
      return freezeWith(limits, times[0] || null, times[times.length - 1] || null, 'dates');
    }
    return { chart: controlChart(input), limitsSource: 'window', note: `baseline ${b.from} to ${b.to} has ${degenerate(limits, input.chart)}: not frozen, limits from the window`, freeze: null };
  }
  const note = b?.kind === 'dates' ? `baseline ${b.from} to ${b.to} has not ended: limits from the window` : 'no baseline: limits from the window';
  return { chart: controlChart(input), limitsSource: 'window', note, freeze: null };
}

/**
 * The violations of the main chart (I, X̄ or p) under the measure's rules and of the paired chart
 * (MR, R or S) under rule 1, as Minitab and qcc judge it; one per panel, point and rule.
 */
export function judgedViolations(measure: MeasureSpec, chart: ControlChart): JudgedViolation[] {
  const seen = new Set<string>();
  const out: JudgedViolation[] = [];
  const judge = (panel: Panel, points: readonly ChartPoint[], enabled: readonly RuleNumber[]) => {
    if (enabled.length === 0) return;
    for (const v of nelsonViolations(points, { ...measure.rules, enabled })) {
      const point = points[v.pointIndex]!;
      const time = point.time ?? '';
      // Two readings at the same instant would be one stored violation: keep the first.
      const id = `${panel}|${time}|${v.rule}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push({ panel, rule: v.rule, side: v.side, time, firstTime: points[v.firstIndex]!.time ?? time, value: point.value, pointIndex: v.pointIndex, severity: panel === 'paired' ? measure.pairedSeverity : measure.severity[v.rule] });
    }
  };
  judge('main', chart.main, measure.rules.enabled);
  judge('paired', chart.paired, pairedChartRules(measure.rules.enabled));
  return out;
}

/**
 * Capability of the charted window: μ and σ̂ within from the window's own data (not the frozen
 * baseline), so the indices describe the process as it ran in the window.
 */
function windowCapability(measure: MeasureSpec, j: JudgeInput): Capability | null {
  if (measure.chart === 'p') return null;
  return capability(j.values, chartLimits(j.input).sigmaWithin, measure.spec);
}

/**
 * A chart whose limits have σ̂ = 0 (a constant gauge, a stuck sensor, p̄ = 0) puts every point on
 * CL or beyond every line: the rules would only repeat that on each point (rule 7 from the 15th
 * on), so they are not applied and the chart says once that it cannot be judged.
 */
export function judgeKey(measure: MeasureSpec, j: JudgeInput): JudgedKey {
  const chosen = chooseLimits(measure, j);
  const capability = windowCapability(measure, j);
  if (chosen.chart.limits.sigmaWithin === 0) {
    return { key: j.key, ...chosen, note: `${NO_VARIATION} (σ̂ = 0); ${chosen.note}`, violations: [], capability, unjudged: NO_VARIATION };
  }
  return { key: j.key, ...chosen, violations: judgedViolations(measure, chosen.chart), capability, unjudged: null };
}
