/**
 * The defect trace's lead indicator (pure): which winders produce infusion defects on a day, and
 * whether their separator–anode gap was out of spec or drifting in the days before their defect
 * rate rose.
 *
 * The choices, for maintainers:
 *  - A winder is *above* on a day when it assembled at least `minCells` cells and its infusion-defect
 *    rate is above `infusionRateThreshold`. Its *rise* is the first day of the run of above days
 *    that ends on the report day; up to EPISODE_QUIET_DAYS days below the threshold inside the run
 *    (a chance low day, a thin weekend) do not end it, so one quiet Sunday does not move the rise
 *    into the middle of the drift.
 *  - The *lead window* is the `leadDays` days before the rise; for a winder that is not above on the
 *    report day it is the `leadDays` days ending on the report day, which makes the same check an
 *    early warning: the gap is already low, the defects have not come yet.
 *  - The *baseline* is the winder's own readings over the `baselineDays` days just before the lead
 *    window: its most recent normal, which by construction holds neither the lead window nor the
 *    rise. Its mean is the grand mean of the readings and its sigma the pooled within-day standard
 *    deviation (the X-bar chart's sigma of spc.md §2, without c4): between-day shifts are what we
 *    look for, so they must not widen the yardstick. Both come exactly from the stored per-day n,
 *    mean and SD; a median/MAD baseline would need the raw readings, and the spec limits already
 *    catch the gross outliers a robust estimate protects against.
 *  - A lead day *drifts* when its mean gap is `driftZ` standard errors (sigma/√n) or more from the
 *    baseline mean: rule 1 of the X-bar chart with the baseline as phase I. It is *out of spec* when
 *    any reading was below LSL or above USL. Below LSL is the finding that matters for infusion (a
 *    narrow gap lets the electrolyte in slowly), so it is the verdict when both occur.
 */
import { addDays, dateRange } from './periods.js';

/** The row of summary_defect_winder that holds CEF cells without a winding record. */
export const UNTRACED = '(untraced)';

/** Up to this many days below the threshold inside a rise do not end it. */
export const EPISODE_QUIET_DAYS = 2;

/** Gap readings of one winder in one period. Counts are never null; the rest are null without readings (sd: with fewer than 2). */
export interface GapStats {
  n: number;
  mean: number | null;
  sd: number | null;
  min: number | null;
  max: number | null;
  belowLsl: number;
  aboveUsl: number;
}

/** One day row of summary_defect_winder, as the lead indicator reads it. */
export interface WinderDay {
  winder: string;
  day: string;
  cells: number;
  infusionDefects: number;
  fillingDefects: number;
  gap: GapStats;
}

export interface LeadIndicatorSettings {
  lsl: number;
  usl: number;
  infusionRateThreshold: number;
  minCells: number;
  windowDays: number;
  leadDays: number;
  baselineDays: number;
  driftZ: number;
}

export const NO_GAP: GapStats = { n: 0, mean: null, sd: null, min: null, max: null, belowLsl: 0, aboveUsl: 0 };

/** Gap statistics from a count, a mean and the sum of squared deviations from it (the SQL's part G). */
export function gapStatsOf(n: number, mean: number | null, ss: number | null, min: number | null, max: number | null, belowLsl: number, aboveUsl: number): GapStats {
  if (n === 0) return NO_GAP;
  return { n, mean, sd: n >= 2 && ss !== null ? Math.sqrt(Math.max(0, ss) / (n - 1)) : null, min, max, belowLsl, aboveUsl };
}

const ssOf = (g: GapStats) => (g.n >= 2 && g.sd !== null ? g.sd * g.sd * (g.n - 1) : 0);

/**
 * The statistics of the union of samples: n and counts add, the mean is n-weighted, and the sum of
 * squared deviations is Σ[ssᵢ + nᵢ(meanᵢ − mean)²], exact (the week from its days).
 */
export function poolGapStats(parts: readonly GapStats[]): GapStats {
  const used = parts.filter((p) => p.n > 0 && p.mean !== null);
  const n = used.reduce((a, p) => a + p.n, 0);
  if (n === 0) return NO_GAP;
  const mean = used.reduce((a, p) => a + p.n * p.mean!, 0) / n;
  const ss = used.reduce((a, p) => a + ssOf(p) + p.n * (p.mean! - mean) ** 2, 0);
  return {
    n,
    mean,
    sd: n >= 2 ? Math.sqrt(ss / (n - 1)) : null,
    min: Math.min(...used.map((p) => p.min!)),
    max: Math.max(...used.map((p) => p.max!)),
    belowLsl: used.reduce((a, p) => a + p.belowLsl, 0),
    aboveUsl: used.reduce((a, p) => a + p.aboveUsl, 0),
  };
}

/** Infusion defects / cells; null without cells (metrics.md §8). */
export const defectRate = (defects: number, cells: number): number | null => (cells === 0 ? null : defects / cells);

/** The days the lead indicator of `day` reads: the charted window, and lead and baseline days before its start. */
export function analysisSpan(day: string, s: Pick<LeadIndicatorSettings, 'windowDays' | 'leadDays' | 'baselineDays'>): { from: string; to: string } {
  return { from: addDays(day, -(s.windowDays - 1) - s.leadDays - s.baselineDays), to: day };
}

export interface Baseline {
  from: string;
  to: string;
  /** Days with readings, and the readings. */
  days: number;
  n: number;
  mean: number;
  /** Pooled within-day standard deviation. */
  sigma: number;
}

/**
 * The winder's baseline over its day rows; null when it cannot give a sigma (fewer than two readings
 * on any one day, or no spread at all).
 */
export function baselineOf(days: readonly WinderDay[], from: string, to: string): Baseline | null {
  const gaps = days.filter((d) => d.day >= from && d.day <= to && d.gap.n > 0 && d.gap.mean !== null).map((d) => d.gap);
  const n = gaps.reduce((a, g) => a + g.n, 0);
  const dof = gaps.reduce((a, g) => a + g.n - 1, 0);
  if (dof < 1) return null;
  const sigma = Math.sqrt(gaps.reduce((a, g) => a + ssOf(g), 0) / dof);
  if (!(sigma > 0)) return null;
  return { from, to, days: gaps.length, n, mean: gaps.reduce((a, g) => a + g.n * g.mean!, 0) / n, sigma };
}

export interface LeadDay {
  day: string;
  gap: GapStats;
  /** (day mean − baseline mean) / (sigma / √n); null without readings or baseline. */
  z: number | null;
}

export type GapVerdict = 'below-lsl' | 'above-usl' | 'drifting' | 'stable' | 'no-baseline' | 'no-data';

export interface WinderVerdict {
  rank: number;
  winder: string;
  /** The report day. */
  cells: number;
  infusionDefects: number;
  fillingDefects: number;
  rate: number | null;
  gap: GapStats;
  /** The charted window (windowDays up to the report day). */
  windowCells: number;
  windowInfusionDefects: number;
  windowRate: number | null;
  /** Above the threshold on the report day. */
  above: boolean;
  /** First day of the rise that reaches the report day; null when not above. */
  riseDay: string | null;
  /** The days judged: before the rise, or (not above) the last leadDays up to the report day. */
  lead: { from: string; to: string; days: LeadDay[] };
  baseline: Baseline | null;
  verdict: GapVerdict;
  /** Lead days with a reading below LSL / above USL, and with a drifting mean. */
  belowLslDays: string[];
  aboveUslDays: string[];
  driftDays: string[];
  /** The day mean furthest from the baseline in the lead window, in standard errors (signed). */
  extremeZ: number | null;
  /** The lowest reading in the lead window. */
  leadMin: number | null;
  /** The first lead day with any signal (out of spec or drifting). */
  firstSignalDay: string | null;
  /** Days from the first signal to the rise; null without either. */
  signalLeadDays: number | null;
}

const daysBetween = (from: string, to: string) => dateRange(from, to).length - 1;

function isAbove(d: WinderDay | undefined, s: LeadIndicatorSettings): boolean {
  if (!d || d.cells < s.minCells) return false;
  return d.infusionDefects / d.cells > s.infusionRateThreshold;
}

/** The first day of the rise that reaches `day`, or null when the winder is not above on `day`. */
export function riseDayOf(byDay: ReadonlyMap<string, WinderDay>, day: string, s: LeadIndicatorSettings): string | null {
  if (!isAbove(byDay.get(day), s)) return null;
  const windowStart = addDays(day, -(s.windowDays - 1));
  let rise = day;
  let quiet = 0;
  for (let d = addDays(day, -1); d >= windowStart; d = addDays(d, -1)) {
    if (isAbove(byDay.get(d), s)) {
      rise = d;
      quiet = 0;
    } else if (++quiet > EPISODE_QUIET_DAYS) break;
  }
  return rise;
}

function verdictOf(days: readonly LeadDay[], baseline: Baseline | null, s: LeadIndicatorSettings) {
  const belowLslDays = days.filter((d) => d.gap.belowLsl > 0).map((d) => d.day);
  const aboveUslDays = days.filter((d) => d.gap.aboveUsl > 0).map((d) => d.day);
  const driftDays = days.filter((d) => d.z !== null && Math.abs(d.z) >= s.driftZ).map((d) => d.day);
  const readings = days.reduce((a, d) => a + d.gap.n, 0);
  const verdict: GapVerdict = belowLslDays.length
    ? 'below-lsl'
    : aboveUslDays.length
      ? 'above-usl'
      : readings === 0
        ? 'no-data'
        : !baseline
          ? 'no-baseline'
          : driftDays.length
            ? 'drifting'
            : 'stable';
  const signals = [...belowLslDays, ...aboveUslDays, ...driftDays].sort();
  const zs = days.map((d) => d.z).filter((z): z is number => z !== null);
  const extremeZ = zs.length ? zs.reduce((a, z) => (Math.abs(z) > Math.abs(a) ? z : a)) : null;
  const mins = days.map((d) => d.gap.min).filter((v): v is number => v !== null);
  return { verdict, belowLslDays, aboveUslDays, driftDays, extremeZ, leadMin: mins.length ? Math.min(...mins) : null, firstSignalDay: signals[0] ?? null };
}

/**
 * Every winder seen in `rows` (the day rows of at least analysisSpan(day)), ranked by its
 * infusion-defect rate on `day`: winders with enough cells to be judged first, then by rate, by
 * defects and by name. The untraced row is not a winder and is left out.
 */
export function rankWinders(rows: readonly WinderDay[], day: string, s: LeadIndicatorSettings): WinderVerdict[] {
  const byWinder = new Map<string, Map<string, WinderDay>>();
  for (const r of rows) {
    if (r.winder === UNTRACED) continue;
    const m = byWinder.get(r.winder) ?? new Map<string, WinderDay>();
    m.set(r.day, r);
    byWinder.set(r.winder, m);
  }
  const windowStart = addDays(day, -(s.windowDays - 1));
  const verdicts = [...byWinder].map(([winder, byDay]): Omit<WinderVerdict, 'rank'> => {
    const today = byDay.get(day);
    const riseDay = riseDayOf(byDay, day, s);
    const lead = riseDay ? { from: addDays(riseDay, -s.leadDays), to: addDays(riseDay, -1) } : { from: addDays(day, -(s.leadDays - 1)), to: day };
    const history = [...byDay.values()];
    const baseline = baselineOf(history, addDays(lead.from, -s.baselineDays), addDays(lead.from, -1));
    const leadDays = dateRange(lead.from, lead.to).map((d): LeadDay => {
      const gap = byDay.get(d)?.gap ?? NO_GAP;
      const z = baseline && gap.n > 0 && gap.mean !== null ? (gap.mean - baseline.mean) / (baseline.sigma / Math.sqrt(gap.n)) : null;
      return { day: d, gap, z };
    });
    const inWindow = history.filter((r) => r.day >= windowStart && r.day <= day);
    const windowCells = inWindow.reduce((a, r) => a + r.cells, 0);
    const windowInfusionDefects = inWindow.reduce((a, r) => a + r.infusionDefects, 0);
    const v = verdictOf(leadDays, baseline, s);
    return {
      winder,
      cells: today?.cells ?? 0,
      infusionDefects: today?.infusionDefects ?? 0,
      fillingDefects: today?.fillingDefects ?? 0,
      rate: defectRate(today?.infusionDefects ?? 0, today?.cells ?? 0),
      gap: today?.gap ?? NO_GAP,
      windowCells,
      windowInfusionDefects,
      windowRate: defectRate(windowInfusionDefects, windowCells),
      above: riseDay !== null,
      riseDay,
      lead: { ...lead, days: leadDays },
      baseline,
      ...v,
      signalLeadDays: riseDay && v.firstSignalDay ? daysBetween(v.firstSignalDay, riseDay) : null,
    };
  });
  verdicts.sort(
    (a, b) =>
      Number(b.cells >= s.minCells) - Number(a.cells >= s.minCells) ||
      (b.rate ?? -1) - (a.rate ?? -1) ||
      b.infusionDefects - a.infusionDefects ||
      (a.winder < b.winder ? -1 : a.winder > b.winder ? 1 : 0),
  );
  return verdicts.map((v, i) => ({ rank: i + 1, ...v }));
}
