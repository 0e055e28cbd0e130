/**
 * The Process flow sheet of the daily workbook and its email paragraph (process-flow.md): per
 * product the steps with their waiting and processing times, rework and bottleneck rank, the
 * conformance to the route, the top variants and the shift view of the day, with the process maps
 * below. Pure but for the workbook writer.
 */
import type ExcelJS from 'exceljs';
import type { FlowConformanceRow, FlowRows, FlowShiftRow, FlowSkipRow, FlowStepRow, FlowVariantRow } from '../../etl/flow/flow-rows.js';
import { escapeHtml } from '../daily-yield-email.js';
import { addPicture, titledTable, type SheetColumn, type StreamBook } from '../xlsx-stream-parts.js';
import type { Png } from '../charts.js';
import { duration } from './process-map.js';

export interface FlowThresholds {
  minCases: number;
  bottleneckWaitS: number;
  reworkRate: number;
  skipShare: number;
}

/** A station's skips of one step, over the day's products. */
export interface StationSkips {
  machine: string;
  fromStep: string;
  skippedStep: string;
  transitionsOut: number;
  skipping: number;
  share: number;
}

/** Variants listed per product. */
const TOP_VARIANTS = 5;


const RATE = '0.0%';
const SECONDS = '#,##0.0';
const COUNT = '#,##0';

const STEP_COLUMNS: SheetColumn<FlowStepRow>[] = [
  { header: 'Product', meaning: 'product (CELL: the battery line, case = cell)', value: (r) => r.product },
  { header: 'Step', meaning: 'test step (battery: WINDING, CEF)', value: (r) => r.step },
  { header: 'Bottleneck rank', meaning: '1 = the largest median wait into the step among the product\'s steps with at least flow.minCases cases; empty below', value: (r) => r.bottleneck_rank },
  { header: 'Cases', meaning: 'cases (serials, cells) of the day with an event at the step', value: (r) => r.cases, numFmt: COUNT },
  { header: 'Events', meaning: 'their events at the step', value: (r) => r.events, numFmt: COUNT },
  { header: 'Rework events', meaning: "events beyond a case's first at the step (retests, excess attempts)", value: (r) => r.rework_events, numFmt: COUNT },
  { header: 'Rework rate', meaning: 'rework events / events', value: (r) => r.rework_rate, numFmt: RATE },
  { header: 'Median wait in (s)', meaning: 'median wait of the edges into the step from another step: from the end of the previous event to this one', value: (r) => r.median_wait_in_s, numFmt: SECONDS },
  { header: 'Median processing (s)', meaning: 'median duration of the events with a duration', value: (r) => r.median_processing_s, numFmt: SECONDS },
];

const CONFORMANCE_COLUMNS: SheetColumn<FlowConformanceRow>[] = [
  { header: 'Product', meaning: 'product', value: (r) => r.product },
  { header: 'Cases', meaning: 'cases whose first event falls on the day', value: (r) => r.cases, numFmt: COUNT },
  { header: 'Fitness', meaning: 'cases whose variant is the route or a prefix of it / cases', value: (r) => r.fitness, numFmt: RATE },
  { header: 'Skipped a step', meaning: 'cases where a later route step appears while an earlier one never did', value: (r) => r.skipped_step_cases, numFmt: COUNT },
  { header: 'Extra step', meaning: 'cases with a step not on the route', value: (r) => r.extra_step_cases, numFmt: COUNT },
  { header: 'Out of order', meaning: 'cases with a route step after a later route step (a return to an earlier step included)', value: (r) => r.out_of_order_cases, numFmt: COUNT },
  { header: 'Route', meaning: 'the route judged against', value: (r) => r.route },
  { header: 'Route source', meaning: 'config: flow.routes; discovered: the most frequent variant of the last flow.discoverDays days', value: (r) => r.route_source },
];

const VARIANT_COLUMNS: SheetColumn<FlowVariantRow>[] = [
  { header: 'Product', meaning: 'product', value: (r) => r.product },
  { header: 'Rank', meaning: '1 = the variant with the most cases (ties by variant text)', value: (r) => r.rank },
  { header: 'Variant', meaning: "the case's steps in order, repeats collapsed", value: (r) => r.variant },
  { header: 'Cases', meaning: 'cases with the variant', value: (r) => r.cases, numFmt: COUNT },
  { header: 'Share', meaning: "cases / the product's cases", value: (r) => r.share, numFmt: RATE },
  { header: 'Median lead time (s)', meaning: "median of last event's end − first event's time", value: (r) => r.median_lead_time_s, numFmt: SECONDS },
];

const SHIFT_COLUMNS: SheetColumn<FlowShiftRow>[] = [
  { header: 'Shift', meaning: 'plant.shifts: the shift containing the attempt', value: (r) => r.shift },
  { header: 'Product', meaning: 'product', value: (r) => r.product },
  { header: 'Step', meaning: 'test step', value: (r) => r.step },
  { header: 'Attempts', meaning: 'valid attempts in the shift', value: (r) => r.attempts, numFmt: COUNT },
  { header: 'Unit-tests', meaning: 'unit-tests whose attempt 1 falls in the shift', value: (r) => r.units_tested, numFmt: COUNT },
  { header: 'First-pass yield', meaning: 'of those, passed at attempt 1 / all', value: (r) => r.first_pass_yield, numFmt: RATE },
  { header: 'Median wait in (s)', meaning: 'median wait into the step of the events in the shift', value: (r) => r.median_wait_in_s, numFmt: SECONDS },
];

const SKIP_COLUMNS: SheetColumn<StationSkips>[] = [
  { header: 'Station', meaning: 'the machine of the route step that released the units', value: (r) => r.machine },
  { header: 'After step', meaning: 'the route step it runs', value: (r) => r.fromStep },
  { header: 'Skipped step', meaning: "the route's next step, which the units jumped over", value: (r) => r.skippedStep },
  { header: 'Units released', meaning: 'transitions from the station to another step, all products', value: (r) => r.transitionsOut, numFmt: COUNT },
  { header: 'Skipping', meaning: 'of them, to a later route step than the next one', value: (r) => r.skipping, numFmt: COUNT },
  { header: 'Skip share', meaning: 'skipping / units released', value: (r) => r.share, numFmt: RATE },
];

/** Skips per station and step over the day's products, the largest share first. */
export function stationSkips(skips: readonly FlowSkipRow[]): StationSkips[] {
  const by = new Map<string, StationSkips>();
  for (const s of skips) {
    const k = `${s.machine}|${s.from_step}|${s.skipped_step}`;
    const row = by.get(k) ?? { machine: s.machine, fromStep: s.from_step, skippedStep: s.skipped_step, transitionsOut: 0, skipping: 0, share: 0 };
    row.skipping += s.skipping_transitions;
    row.transitionsOut += s.transitions_out;
    by.set(k, row);
  }
  return [...by.values()]
    .filter((r) => r.skipping > 0)
    .map((r) => ({ ...r, share: r.skipping / r.transitionsOut })).sort((a, b) => b.share - a.share || b.skipping - a.skipping || a.machine.localeCompare(b.machine));
}

export const PROCESS_FLOW_DEFINITIONS = [STEP_COLUMNS, CONFORMANCE_COLUMNS, VARIANT_COLUMNS, SHIFT_COLUMNS, SKIP_COLUMNS].flatMap((cols) =>
  cols.map((c) => ({ column: `Process flow: ${c.header}`, meaning: c.meaning })),
);

export interface ProcessFlowSheetData {
  day: string;
  steps: FlowStepRow[];
  conformance: FlowConformanceRow[];
  variants: FlowVariantRow[];
  shifts: FlowShiftRow[];
  /** The day's worst bottleneck (rank 1 of at least two ranked steps, the longest wait) at or above the threshold. */
  bottleneck: FlowStepRow | null;
  /** The step with the highest rework rate (at least minCases cases) at or above the threshold. */
  worstRework: FlowStepRow | null;
  /** Stations whose released units jumped over the route's next step, the largest share first. */
  skips: StationSkips[];
  /** The first of them with at least minCases units released and a share at or above the threshold. */
  worstSkip: StationSkips | null;
}

/** Products by cases, most first: the maps and tables follow this order. */
export function productOrder(rows: FlowRows): string[] {
  return [...rows.conformance].sort((a, b) => b.cases - a.cases || a.product.localeCompare(b.product)).map((c) => c.product);
}

export function processFlowSheetData(rows: FlowRows, day: string, t: FlowThresholds): ProcessFlowSheetData {
  const order = productOrder(rows);
  const byProduct = <T extends { product: string }>(xs: readonly T[]) => [...xs].sort((a, b) => order.indexOf(a.product) - order.indexOf(b.product));
  const steps = byProduct(rows.steps).sort((a, b) => order.indexOf(a.product) - order.indexOf(b.product) || (a.bottleneck_rank ?? 1e9) - (b.bottleneck_rank ?? 1e9) || a.step.localeCompare(b.step));
  // A bottleneck is a step that waits longer than others: a product with a single ranked step (the
  // battery line's CEF, after a winding that has no wait) has nothing to compare it with.
  const compared = new Set(steps.filter((s) => s.bottleneck_rank === 2).map((s) => s.product));
  const bottleneck =
    steps
      .filter((s) => s.bottleneck_rank === 1 && compared.has(s.product) && (s.median_wait_in_s ?? 0) >= t.bottleneckWaitS)
      .sort((a, b) => b.median_wait_in_s! - a.median_wait_in_s!)[0] ?? null;
  const worstRework =
    steps.filter((s) => s.cases >= t.minCases && s.rework_rate !== null && s.rework_rate >= t.reworkRate && s.rework_events > 0).sort((a, b) => b.rework_rate! - a.rework_rate! || b.rework_events - a.rework_events)[0] ?? null;
  const conformance = byProduct(rows.conformance);
  const skips = stationSkips(rows.skips);
  const worstSkip = skips.find((s) => s.transitionsOut >= t.minCases && s.share >= t.skipShare) ?? null;
  return {
    day,
    steps,
    conformance,
    variants: byProduct(rows.variants).filter((v) => v.rank <= TOP_VARIANTS).sort((a, b) => order.indexOf(a.product) - order.indexOf(b.product) || a.rank - b.rank),
    shifts: [...rows.shifts].sort((a, b) => a.shift.localeCompare(b.shift) || order.indexOf(a.product) - order.indexOf(b.product) || a.step.localeCompare(b.step)),
    bottleneck,
    worstRework,
    skips,
    worstSkip,
  };
}


/** Writes the sheet; `maps` are the process maps, in product order. */
export function addProcessFlowSheet(book: StreamBook, data: ProcessFlowSheetData, maps: readonly { product: string; png: Png }[]): ExcelJS.Worksheet {
  const ws = book.wb.addWorksheet('Process flow');
  [18, 14, 12, 10, 10, 10, 10, 12, 12].forEach((w, i) => (ws.getColumn(i + 1).width = w));
  ws.getColumn(3).width = 28;
  let r = 1;
  r = titledTable(book, ws, r, `Steps on ${data.day}: waits, processing, rework, bottleneck rank`, 'FlowSteps', STEP_COLUMNS, data.steps);
  r = titledTable(book, ws, r, 'Conformance to the route', 'FlowConformance', CONFORMANCE_COLUMNS, data.conformance);
  r = titledTable(book, ws, r, `Top ${TOP_VARIANTS} variants per product`, 'FlowVariants', VARIANT_COLUMNS, data.variants);
  r = titledTable(book, ws, r, 'Stations whose units skipped the next route step', 'FlowSkips', SKIP_COLUMNS, data.skips);
  r = titledTable(book, ws, r, 'Shifts (by attempt time)', 'FlowShifts', SHIFT_COLUMNS, data.shifts);
  ws.getCell(r, 1).value = 'Process maps';
  ws.getCell(r, 1).font = { bold: true, size: 12 };
  let row = r;
  for (const m of maps) {
    addPicture(book, ws, m.png, { col: 0, row }, `process map ${m.product}`, `Directly-follows graph of ${m.product} on ${data.day}`);
    // Rows of the default height (20 px): the next map goes below this one.
    row += Math.ceil(m.png.height / 20) + 2;
  }
  ws.commit();
  return ws;
}

const P = 'font-family:Arial,Helvetica,sans-serif;font-size:13px;margin:0 0 6px 0;';
const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(1)} %`);

/** The email paragraph, or null when neither the bottleneck nor a rework loop crosses its threshold. */
export function processFlowParagraph(data: ProcessFlowSheetData, t: FlowThresholds): { text: string; html: string } | null {
  const lines: string[] = [];
  const b = data.bottleneck;
  if (b) lines.push(`Bottleneck: ${b.product} ${b.step}, units waited ${duration(b.median_wait_in_s)} (median) before it (threshold ${duration(t.bottleneckWaitS)}).`);
  const w = data.worstRework;
  if (w) lines.push(`Worst rework loop: ${w.product} ${w.step}, ${pct(w.rework_rate)} of its events are retests (${w.rework_events} of ${w.events}; threshold ${pct(t.reworkRate)}).`);
  const s = data.worstSkip;
  if (s) lines.push(`Route deviation: ${s.machine} let ${pct(s.share)} of the units it released after ${s.fromStep} skip ${s.skippedStep} (${s.skipping} of ${s.transitionsOut}; threshold ${pct(t.skipShare)}).`);
  if (lines.length === 0) return null;
  const title = 'Process flow (see the Process flow sheet and its maps)';
  return {
    text: [title, ...lines.map((l) => `  - ${l}`)].join('\n'),
    html: `<h3 style="${P}font-size:15px;color:#1f3864;">${escapeHtml(title)}</h3><ul style="${P}padding-left:20px;">${lines.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>`,
  };
}
