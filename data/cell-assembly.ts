/**
 * The battery line of sources.md: winders (WND01..WND10) wind cells, which are filled with
 * electrolyte at CEF (CEF01..CEF04) the same day or the next; the winders' separator–anode gap is
 * inspected hourly. Planted: WND03 and WND07 drift below the gap's LSL, and about a day later the
 * cells they wound start failing infusion at CEF; a few CEF cells have no winding record.
 *
 * Pure: one production day of rows at a time from a generator. The volume follows the number of
 * days (a few thousand cells a day), not the test-record volume.
 */
import { addDays, dayStartInstant, type PlantClock } from '../etl/periods.js';
import { createRng, type Rng } from './random.js';
import { dayWeight, sampleInstants, shiftOf } from './shift-pattern.js';
import { compactDate, productionDayWindows, type DayWindow } from './source-time.js';

export const WINDERS = Array.from({ length: 10 }, (_, i) => `WND${String(i + 1).padStart(2, '0')}`);
export const CEF_STATIONS = ['CEF01', 'CEF02', 'CEF03', 'CEF04'];

/** The critical-to-quality gap and its spec limits (the defaults the config's SPC limits describe). */
export const SEP_ANODE_GAP = { itemCd: 'SEP_ANODE_GAP', nominal: 1.0, sd: 0.03, lsl: 0.8, usl: 1.2 } as const;

/** Inspected every four hours, for a realistic inspection history that is not all gap. */
const OTHER_ITEMS = [
  { itemCd: 'WIND_TENSION', nominal: 12.0, sd: 0.25, digits: 2 },
  { itemCd: 'ELECTRODE_WIDTH', nominal: 57.0, sd: 0.04, digits: 3 },
  { itemCd: 'CORE_DIAMETER', nominal: 3.5, sd: 0.02, digits: 3 },
] as const;

export const DFCT_OK = 0;
export const DFCT_FILLING = 4;
export const DFCT_INFUSION = 5;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const CELLS_PER_WINDER_DAY = 300;
const P_FILLING_DEFECT = 0.002;
const P_INFUSION_DEFECT = 0.003;
/** Infusion defects of cells wound with a low gap, once they reach CEF after the rise. */
const P_INFUSION_DEFECT_DRIFTED = 0.04;
/** CEF cells without a winding record: manual rework cells, which also fail infusion more often. */
const P_UNTRACED = 0.005;
const P_INFUSION_DEFECT_UNTRACED = 0.02;
/** The drift takes the gap from nominal to its floor within this time, then it stays there. */
const DRIFT_HOURS = 8;
const DRIFT_FLOOR = 0.74;

export interface WinderDrift {
  winder: string;
  driftStartDay: string;
  defectRiseDay: string;
}

/** WND03 drifts about a third into the range, WND07 about two thirds; each rise follows a day later. */
export function plannedDrifts(start: string, days: number): WinderDrift[] {
  const at = (fraction: number) => addDays(start, Math.min(Math.max(0, Math.round(fraction * days)), Math.max(0, days - 1)));
  return [
    { winder: 'WND03', driftStartDay: at(0.3), defectRiseDay: addDays(at(0.3), 1) },
    { winder: 'WND07', driftStartDay: at(0.6), defectRiseDay: addDays(at(0.6), 1) },
  ];
}

export interface AssemblyRow {
  cellId: string;
  lotId: string;
  eqpId: string;
  prodDt: string;
  dfctCd: number;
}

export interface WindingRow {
  cellId: string;
  lotId: string;
  eqpId: string;
  prodDt: string;
}

export interface InspectionRow {
  eqpId: string;
  inspDt: string;
  itemCd: string;
  inspVal: number;
}

/**
 * A filled cell as the line knows it, with instants in epoch milliseconds: what the cell-quality
 * data (data/cell-quality.ts) continues from. Not written anywhere itself.
 */
export interface CellTrace {
  cellId: string;
  lotId: string;
  /** null for a cell without a winding record. */
  winder: string | null;
  woundAt: number;
  filledAt: number;
  dfctCd: number;
}

/** A SEP_ANODE_GAP reading with its instant. */
export interface GapReading {
  winder: string;
  at: number;
  value: number;
}

export interface CellLineDay {
  winding: WindingRow[];
  assembly: AssemblyRow[];
  inspection: InspectionRow[];
  /** The assembly rows' cells with their instants, in the same order. */
  cells: CellTrace[];
  /** The day's gap readings with their instants. */
  gaps: GapReading[];
}

export interface CellLinePlan {
  seed: number;
  clock: PlantClock;
  windows: readonly DayWindow[];
  drifts: readonly WinderDrift[];
  formatTime: (ms: number) => string;
}

export interface CellLineTally {
  /** Cells filled at CEF (rows of the assembly table). */
  cells: number;
  untracedCells: number;
  gapReadings: number;
}

interface Drift {
  from: number;
  riseFrom: number;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

export function* cellLineDays(plan: CellLinePlan, tally: CellLineTally): Generator<CellLineDay> {
  const rangeEnd = plan.windows[plan.windows.length - 1]?.to ?? 0;
  const drifts = new Map<string, Drift>(
    plan.drifts.map((d) => [
      d.winder,
      { from: dayStartInstant(d.driftStartDay, plan.clock).toMillis(), riseFrom: dayStartInstant(d.defectRiseDay, plan.clock).toMillis() },
    ]),
  );
  const first = plan.windows[0];
  if (!first) return;
  // The line ran before the range too: cells wound the day before reach CEF on the first day, so
  // the first day's CEF volume is a normal day's. Their winding rows predate the range, as in an MES.
  const leadIn = productionDayWindows(addDays(first.date, -1), 1, plan.clock)[0]!;
  for (const w of [leadIn, ...plan.windows]) {
    const inRange = w !== leadIn;
    const range = { from: first.from, to: rangeEnd };
    const day: CellLineDay = { winding: [], assembly: [], inspection: [], cells: [], gaps: [] };
    for (const [k, winder] of WINDERS.entries()) {
      const drift = drifts.get(winder);
      windCells(createRng(plan.seed, 'cells', w.date, winder), plan, w, winder, k + 1, drift, range, day, tally);
      // Each winder sits a little off nominal, as real machines do.
      const offset = (((k * 7) % 5) - 2) * 0.006;
      if (inRange) inspect(createRng(plan.seed, 'inspection', w.date, winder), plan, w, winder, offset, drift, day, tally);
    }
    yield day;
  }
}

function windCells(
  rng: Rng,
  plan: CellLinePlan,
  w: DayWindow,
  winder: string,
  winderNo: number,
  drift: Drift | undefined,
  /** Only cells filled inside [from, to) are written. */
  range: { from: number; to: number },
  day: CellLineDay,
  tally: CellLineTally,
): void {
  const n = Math.max(0, Math.round(CELLS_PER_WINDER_DAY * dayWeight(w) * rng.normal(1, 0.05)));
  const times = sampleInstants(rng, w, n);
  const prefix = `C${compactDate(w.date)}${String(winderNo).padStart(2, '0')}`;
  for (let i = 0; i < n; i++) {
    const woundAt = times[i]!;
    const cellId = `${prefix}${String(i + 1).padStart(4, '0')}`;
    const lotId = `${winder}-${compactDate(w.date)}${shiftOf(w, woundAt)}`;
    // Cells wait for CEF in the aging area: hours, sometimes into the next day.
    const filledAt = woundAt + 2 * HOUR + Math.round(Math.min(28 * HOUR, rng.exponential(8 * HOUR)));
    if (filledAt < range.from) continue; // a lead-in cell filled before the range
    const filled = filledAt < range.to; // otherwise still waiting when the range ends
    const untraced = filled && rng.chance(P_UNTRACED);
    if (!untraced) day.winding.push({ cellId, lotId, eqpId: winder, prodDt: plan.formatTime(woundAt) });
    if (!filled) continue;
    // Cells wound once the gap is well down fail infusion more often. Counting them only from the
    // rise day's start makes the rise a clean day boundary that the manifest can name.
    const drifted = drift !== undefined && woundAt >= drift.from + DRIFT_HOURS * HOUR * 0.75 && filledAt >= drift.riseFrom;
    const pInfusion = untraced ? P_INFUSION_DEFECT_UNTRACED : drifted ? P_INFUSION_DEFECT_DRIFTED : P_INFUSION_DEFECT;
    const u = rng.next();
    const dfctCd = u < pInfusion ? DFCT_INFUSION : u < pInfusion + P_FILLING_DEFECT ? DFCT_FILLING : DFCT_OK;
    day.assembly.push({ cellId, lotId, eqpId: rng.pick(CEF_STATIONS), prodDt: plan.formatTime(filledAt), dfctCd });
    day.cells.push({ cellId, lotId, winder: untraced ? null : winder, woundAt, filledAt, dfctCd });
    tally.cells++;
    if (untraced) tally.untracedCells++;
  }
}

/** The gap the winder is set to at `ms`: nominal, or sliding to the floor once its drift starts. */
function gapMean(offset: number, drift: Drift | undefined, ms: number): number {
  const nominal = SEP_ANODE_GAP.nominal + offset;
  if (!drift || ms < drift.from) return nominal;
  const progress = Math.min(1, (ms - drift.from) / (DRIFT_HOURS * HOUR));
  return nominal + (DRIFT_FLOOR - nominal) * progress;
}

function inspect(rng: Rng, plan: CellLinePlan, w: DayWindow, winder: string, offset: number, drift: Drift | undefined, day: CellLineDay, tally: CellLineTally): void {
  for (let hour = 0; w.from + hour * HOUR < w.to; hour++) {
    const at = Math.min(w.to - 1, w.from + hour * HOUR + Math.round(rng.between(2, 10) * MINUTE));
    const inspDt = plan.formatTime(at);
    const gap = round(rng.normal(gapMean(offset, drift, at), SEP_ANODE_GAP.sd), 4);
    day.inspection.push({ eqpId: winder, inspDt, itemCd: SEP_ANODE_GAP.itemCd, inspVal: gap });
    day.gaps.push({ winder, at, value: gap });
    tally.gapReadings++;
    if (hour % 4 === 1) {
      for (const item of OTHER_ITEMS) {
        day.inspection.push({ eqpId: winder, inspDt, itemCd: item.itemCd, inspVal: round(rng.normal(item.nominal, item.sd), item.digits) });
      }
    }
  }
}
