/**
 * The quality data a battery line has of each cell after CEF, for the cell-risk job (README "Cell
 * risk"): formation and ageing (OCV after formation and after ageing, the days between them,
 * capacity, DCIR), an outgoing (OQC) check of a sample of cells, and what later became of a cell
 * (a failed short-term test or a field return).
 *
 * Planted: the log-odds of a later failure rise with a low separator–anode gap at winding (the
 * winder's gap reading nearest the winding time) and with a high K-value (the OCV drop per day of
 * ageing, mV/day), and a CEF defect adds to them; PLANTED_RISK holds the coefficients and the
 * manifest repeats them. Every outcome falls within OUTCOME_WITHIN_DAYS of the end of ageing.
 *
 * Pure given the seed: the rows follow from the battery-line days (data/cell-assembly.ts) in their
 * order. Rows whose time falls after the range are not written (the cell is still ageing, not yet
 * shipped, its outcome not yet known), as in an MES read at the end of the range.
 */
import { createRng } from './random.js';
import type { CellLineDay, GapReading } from './cell-assembly.js';
import { DFCT_OK } from './cell-assembly.js';

export const FORMATION_CABINETS = Array.from({ length: 6 }, (_, i) => `FMT${String(i + 1).padStart(2, '0')}`);

/** logit P(failure) = intercept + gap·(gap − gapRef) + k·(K − kRef) + cefDefect·[dfct_cd ≠ 0]. */
export const PLANTED_RISK = { intercept: -4.2, gapPerMm: -14, gapRef: 1.0, kPerMvDay: 1.1, kRef: 1.0, cefDefect: 1.2 } as const;

/** The generator draws every outcome this many days after the end of ageing at the latest. */
export const OUTCOME_WITHIN_DAYS = 6;

/** Share of cells sampled at OQC. */
const OQC_SHARE = 0.05;
/** Cells with a micro short: their K-value is raised by an exponential amount. */
const P_MICRO_SHORT = 0.03;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface FormationRow {
  cellId: string;
  lotId: string;
  eqpId: string;
  fmtDt: string;
  ocv1V: number;
  ocv2V: number;
  ageDays: number;
  capacityAh: number;
  dcirMohm: number;
}

export interface OqcRow {
  cellId: string;
  lotId: string;
  inspDt: string;
  result: 'OK' | 'NG';
  acirMohm: number;
}

export type Outcome = 'short_test_fail' | 'field_return';

export interface OutcomeRow {
  cellId: string;
  outcomeDt: string;
  outcome: Outcome;
}

export interface CellQualityDay {
  formation: FormationRow[];
  oqc: OqcRow[];
  outcomes: OutcomeRow[];
}

export interface CellQualityTally {
  formation: number;
  oqc: number;
  oqcNg: number;
  outcomes: number;
  /** Cells whose drawn outcome is a failure, written or not (its time may fall after the range). */
  failuresDrawn: number;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** The planted probability of a later failure (pure). */
export function plantedFailureProbability(gapMm: number, kMvPerDay: number, dfctCd: number): number {
  const r = PLANTED_RISK;
  return sigmoid(r.intercept + r.gapPerMm * (gapMm - r.gapRef) + r.kPerMvDay * (kMvPerDay - r.kRef) + (dfctCd !== DFCT_OK ? r.cefDefect : 0));
}

/** Each winder's gap readings in time order, for the nearest-reading look-up. */
export function gapReadingsByWinder(days: Iterable<CellLineDay>): Map<string, GapReading[]> {
  const out = new Map<string, GapReading[]>();
  for (const d of days) for (const g of d.gaps) (out.get(g.winder) ?? out.set(g.winder, []).get(g.winder)!).push(g);
  for (const list of out.values()) list.sort((a, b) => a.at - b.at);
  return out;
}

/** The reading nearest `at` (the earlier one on a tie), or null without readings. */
export function nearestReading(readings: readonly GapReading[] | undefined, at: number): GapReading | null {
  if (!readings || readings.length === 0) return null;
  let lo = 0;
  let hi = readings.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (readings[mid]!.at <= at) lo = mid + 1;
    else hi = mid;
  }
  const before = readings[lo - 1];
  const after = readings[lo];
  if (!before) return after ?? null;
  if (!after) return before;
  return at - before.at <= after.at - at ? before : after;
}

export interface CellQualityPlan {
  seed: number;
  /** End of the range (epoch ms): rows timed at or after it are not written. */
  rangeEnd: number;
  formatTime: (ms: number) => string;
}

/**
 * The cell-quality rows of each battery-line day, in order; `gaps` are all the range's readings
 * by winder (gapReadingsByWinder over the same days).
 */
export function* cellQualityDays(plan: CellQualityPlan, days: Iterable<CellLineDay>, gaps: ReadonlyMap<string, readonly GapReading[]>, tally: CellQualityTally): Generator<CellQualityDay> {
  let k = 0;
  for (const day of days) {
    const rng = createRng(plan.seed, 'cell-quality', k++);
    const out: CellQualityDay = { formation: [], oqc: [], outcomes: [] };
    for (const c of day.cells) {
      // Formation starts some hours after CEF and takes most of a day; ageing follows for 3–6 days.
      const formedAt = c.filledAt + Math.round(Math.max(2, rng.normal(12, 3)) * HOUR + rng.between(18, 22) * HOUR);
      const ageDays = round(rng.between(3, 6), 2);
      const agedAt = formedAt + Math.round(ageDays * DAY);
      const microShort = rng.chance(P_MICRO_SHORT);
      const kValue = Math.max(0.05, rng.normal(1.0, 0.25) + (microShort ? rng.exponential(1.2) : 0));
      const ocv1 = round(rng.normal(4.185, 0.004), 5);
      const ocv2 = round(ocv1 - (kValue * ageDays) / 1000, 5);
      const capacity = round(rng.normal(5.0, 0.05), 4);
      const dcir = round(rng.normal(18, 0.8), 3);
      const sampled = rng.chance(OQC_SHARE);
      const acir = round(rng.normal(10, 0.4), 3);
      const caught = microShort && rng.chance(0.5);
      const gap = c.winder ? nearestReading(gaps.get(c.winder), c.woundAt) : null;
      // A cell without a winding record (or a reading) fails at the base rate of a gap on nominal.
      const p = plantedFailureProbability(gap?.value ?? PLANTED_RISK.gapRef, kValue, c.dfctCd);
      const fails = rng.next() < p;
      const shortTest = rng.chance(0.7);
      const outcomeAt = agedAt + Math.round((shortTest ? rng.between(0.5, 3) : rng.between(3, OUTCOME_WITHIN_DAYS)) * DAY);
      const inspectedAt = agedAt + Math.round(rng.between(2, 20) * HOUR);
      if (fails) tally.failuresDrawn++;
      if (agedAt >= plan.rangeEnd) continue;
      out.formation.push({ cellId: c.cellId, lotId: c.lotId, eqpId: rng.pick(FORMATION_CABINETS), fmtDt: plan.formatTime(agedAt), ocv1V: ocv1, ocv2V: ocv2, ageDays, capacityAh: capacity, dcirMohm: dcir });
      tally.formation++;
      if (sampled && inspectedAt < plan.rangeEnd) {
        const ng = acir > 11 || caught;
        out.oqc.push({ cellId: c.cellId, lotId: c.lotId, inspDt: plan.formatTime(inspectedAt), result: ng ? 'NG' : 'OK', acirMohm: acir });
        tally.oqc++;
        if (ng) tally.oqcNg++;
      }
      if (fails && outcomeAt < plan.rangeEnd) {
        out.outcomes.push({ cellId: c.cellId, outcomeDt: plan.formatTime(outcomeAt), outcome: shortTest ? 'short_test_fail' : 'field_return' });
        tally.outcomes++;
      }
    }
    yield out;
  }
}
