/**
 * The Lot sampling sheet of the daily workbook and its email paragraph: the day's lots with their
 * plan, decision and inspection state (rejected lots first), each plan's risks and AOQL, the day's
 * changes of inspection state, and the plans' OC and AOQ curves as pictures. Pure but for the
 * workbook writer.
 */
import type ExcelJS from 'exceljs';
import { DateTime } from 'luxon';
import type { StoredChange, StoredDisposition } from '../../etl/sampling/sampling-store.js';
import { escapeHtml } from '../daily-yield-email.js';
import { addPicture, titledTable, type SheetColumn, type StreamBook } from '../xlsx-stream-parts.js';
import type { Png } from '../charts.js';
import type { CurvePlan } from './oc-chart.js';


const RATE = '0.00%';
const COUNT = '#,##0';

const DECISION_ORDER = ['reject', 'sample_too_small', 'invalid', 'no_plan', 'accept'];

export interface PlanSummary {
  plan: string;
  n: number;
  ac: number;
  re: number;
  lots: number;
  rejected: number;
  aql: number | null;
  alpha: number | null;
  ltpd: number | null;
  beta: number | null;
  ltpdAtPa10: number | null;
  /** The AOQL for the largest lot of the day judged by the plan. */
  aoql: number | null;
  lotSize: number;
}

/** A lot as the sheet shows it: its inspection time as plant wall-clock time (Excel has no zones). */
export type SheetLot = StoredDisposition & { inspectedLocal: Date };

const LOT_COLUMNS: SheetColumn<SheetLot>[] = [
  { header: 'Decision', meaning: 'accept (at most Ac nonconforming), reject (Re or more), sample_too_small (fewer inspected than n: not judged), no_plan, invalid (the row’s values make no sense; the note says why)', value: (r) => r.decision },
  { header: 'Lot', meaning: 'lot id', value: (r) => r.lot_id },
  { header: 'Product', meaning: 'product or material (cell lots: CELL/<winder>)', value: (r) => r.product },
  { header: 'Class', meaning: 'inspection class (critical, major, final …): each product × class has its own plan and state', value: (r) => r.inspection_class },
  { header: 'Supplier', meaning: 'supplier of the lot, when the source has one', value: (r) => r.supplier },
  { header: 'Inspected at', meaning: 'inspection time, plant time', value: (r) => r.inspectedLocal },
  { header: 'Lot size', meaning: 'N, units in the lot', value: (r) => r.lot_size, numFmt: COUNT },
  { header: 'Inspected', meaning: 'units the inspector sampled', value: (r) => r.inspected, numFmt: COUNT },
  { header: 'Nonconforming', meaning: 'nonconforming units found in the sample', value: (r) => r.defectives, numFmt: COUNT },
  { header: 'Plan', meaning: 'the plan that judged the lot, with its table, code letter (→ the row an arrow led to) and AQL', value: (r) => r.plan },
  { header: 'n', meaning: 'sample size of the plan (at most N: a larger table value means 100 % inspection)', value: (r) => r.sample_size, numFmt: COUNT },
  { header: 'Ac', meaning: 'acceptance number', value: (r) => r.ac, numFmt: COUNT },
  { header: 'Re', meaning: 'rejection number', value: (r) => r.re, numFmt: COUNT },
  { header: 'State before', meaning: 'inspection state the lot was judged under: normal, tightened, reduced, discontinued (judged by the tightened plan)', value: (r) => r.state_before },
  { header: 'State after', meaning: 'inspection state after the lot (switching rules)', value: (r) => r.state_after },
  { header: 'AOQL', meaning: 'the plan’s average outgoing quality limit for a lot of this size (rejected lots screened)', value: (r) => r.aoql, numFmt: RATE },
  { header: 'Note', meaning: 'why a lot was not judged', value: (r) => r.note },
];

const PLAN_COLUMNS: SheetColumn<PlanSummary>[] = [
  { header: 'Plan', meaning: 'plan label', value: (r) => r.plan },
  { header: 'n', meaning: 'sample size', value: (r) => r.n, numFmt: COUNT },
  { header: 'Ac', meaning: 'acceptance number', value: (r) => r.ac, numFmt: COUNT },
  { header: 'Re', meaning: 'rejection number', value: (r) => r.re, numFmt: COUNT },
  { header: 'Lots', meaning: 'lots judged by the plan on the day', value: (r) => r.lots, numFmt: COUNT },
  { header: 'Rejected', meaning: 'of them rejected', value: (r) => r.rejected, numFmt: COUNT },
  { header: 'AQL', meaning: 'acceptance quality limit of a MIL-STD-105E plan', value: (r) => (r.aql === null ? null : r.aql / 100), numFmt: RATE },
  { header: 'α', meaning: "producer's risk: 1 − Pa at the AQL (binomial)", value: (r) => r.alpha, numFmt: RATE },
  { header: 'LTPD', meaning: 'the configured lot tolerance percent defective (sampling.plans[].ltpd)', value: (r) => (r.ltpd === null ? null : r.ltpd / 100), numFmt: RATE },
  { header: 'β', meaning: "consumer's risk: Pa at the LTPD (binomial)", value: (r) => r.beta, numFmt: RATE },
  { header: 'p at Pa 0.10', meaning: 'the fraction nonconforming the plan accepts one time in ten', value: (r) => r.ltpdAtPa10, numFmt: RATE },
  { header: 'AOQL', meaning: 'worst average outgoing quality, for the lot size on the right', value: (r) => r.aoql, numFmt: RATE },
  { header: 'for N', meaning: 'the largest lot of the day judged by the plan', value: (r) => r.lotSize, numFmt: COUNT },
];

const CHANGE_COLUMNS: SheetColumn<StoredChange>[] = [
  { header: 'Product', meaning: 'product or material', value: (r) => r.product },
  { header: 'Class', meaning: 'inspection class', value: (r) => r.inspection_class },
  { header: 'From', meaning: 'state before', value: (r) => r.from_state },
  { header: 'To', meaning: 'state after', value: (r) => r.to_state },
  { header: 'After lot', meaning: 'the lot that caused it (empty: a person resumed)', value: (r) => r.lot_id },
  { header: 'Reason', meaning: 'the switching rule', value: (r) => r.reason },
  { header: 'By', meaning: 'run N, or the person who resumed the inspection', value: (r) => r.changed_by },
];

export const LOT_SAMPLING_DEFINITIONS = [LOT_COLUMNS, PLAN_COLUMNS, CHANGE_COLUMNS].flatMap((cols) => cols.map((c) => ({ column: `Lot sampling: ${c.header}`, meaning: c.meaning })));

export interface LotSamplingSheetData {
  day: string;
  lots: SheetLot[];
  plans: PlanSummary[];
  changes: StoredChange[];
  rejected: SheetLot[];
}

/** Lots rejected first, then the lots not judged, then accepted; within, by product, class and order. */
export function lotSamplingSheetData(day: string, lots: readonly StoredDisposition[], changes: readonly StoredChange[], timezone: string): LotSamplingSheetData {
  const local = (d: Date) => {
    const t = DateTime.fromJSDate(d).setZone(timezone);
    return new Date(Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second, t.millisecond));
  };
  const sorted = lots.map((l) => ({ ...l, inspectedLocal: local(l.inspected_at) })).sort(
    (a, b) =>
      DECISION_ORDER.indexOf(a.decision) - DECISION_ORDER.indexOf(b.decision) ||
      a.product.localeCompare(b.product) ||
      a.inspection_class.localeCompare(b.inspection_class) ||
      a.seq - b.seq,
  );
  const plans = new Map<string, PlanSummary>();
  for (const l of lots) {
    if (l.plan === null || l.sample_size === null || l.ac === null || l.re === null) continue;
    const key = `${l.plan}|${l.sample_size}|${l.ac}|${l.ltpd ?? ''}`;
    const p = plans.get(key);
    const judged = { lots: 1, rejected: l.decision === 'reject' ? 1 : 0 };
    if (!p) {
      plans.set(key, { plan: l.plan, n: l.sample_size, ac: l.ac, re: l.re, ...judged, aql: l.aql, alpha: l.alpha, ltpd: l.ltpd, beta: l.beta, ltpdAtPa10: l.ltpd_at_pa10, aoql: l.aoql, lotSize: l.lot_size ?? l.sample_size });
    } else {
      p.lots += 1;
      p.rejected += judged.rejected;
      if ((l.lot_size ?? 0) > p.lotSize) {
        p.lotSize = l.lot_size!;
        p.aoql = l.aoql;
      }
    }
  }
  const planList = [...plans.values()].sort((a, b) => b.rejected - a.rejected || b.lots - a.lots || a.plan.localeCompare(b.plan));
  return { day, lots: sorted, plans: planList, changes: [...changes], rejected: sorted.filter((l) => l.decision === 'reject') };
}

/** The plans whose curves are drawn: those with rejected lots, then the most used, at most `max`. */
export function curvesToDraw(data: LotSamplingSheetData, max: number): CurvePlan[] {
  return data.plans.slice(0, max).map((p) => ({ label: p.plan, n: p.n, c: p.ac, lotSize: p.lotSize, aql: p.aql, ltpd: p.ltpd }));
}


export function addLotSamplingSheet(book: StreamBook, data: LotSamplingSheetData, curves: readonly { plan: CurvePlan; png: Png }[], timezone: string): ExcelJS.Worksheet {
  const ws = book.wb.addWorksheet('Lot sampling');
  [16, 26, 16, 10, 14, 18, 10, 10, 14, 44, 8, 6, 6, 12, 12, 10, 30].forEach((w, i) => (ws.getColumn(i + 1).width = w));
  ws.getColumn(6).numFmt = 'yyyy-mm-dd hh:mm';
  let r = 1;
  const b = (d: string) => data.lots.filter((l) => l.decision === d).length;
  ws.getCell(r, 1).value = `Lots inspected on ${data.day}: ${data.lots.length} (${b('accept')} accepted, ${b('reject')} rejected, ${b('sample_too_small')} sample too small, ${b('no_plan')} without a plan, ${b('invalid')} invalid); times in ${timezone}`;
  ws.getCell(r, 1).font = { bold: true };
  r += 2;
  r = titledTable(book, ws, r, 'Lots (rejected first)', 'SamplingLots', LOT_COLUMNS, data.lots);
  r = titledTable(book, ws, r, 'Plans: risks and AOQL', 'SamplingPlans', PLAN_COLUMNS, data.plans);
  r = titledTable(book, ws, r, 'Changes of inspection state', 'SamplingChanges', CHANGE_COLUMNS, data.changes);
  ws.getCell(r, 1).value = 'OC and AOQ curves (AQL and LTPD marked)';
  ws.getCell(r, 1).font = { bold: true, size: 12 };
  let row = r + 1;
  for (const c of curves) {
    addPicture(book, ws, c.png, { col: 0, row }, `OC ${c.plan.label}`, `OC and AOQ curves of ${c.plan.label}, n ${c.plan.n}, Ac ${c.plan.c}`);
    row += Math.ceil(c.png.height / 20) + 2;
  }
  ws.commit();
  return ws;
}

const P = 'font-family:Arial,Helvetica,sans-serif;font-size:13px;margin:0 0 6px 0;';

/** The email paragraph: rejected lots and changes of inspection state; null when neither happened. */
export function lotSamplingParagraph(data: LotSamplingSheetData, maxLots: number): { text: string; html: string } | null {
  if (data.rejected.length === 0 && data.changes.length === 0) return null;
  const lines: string[] = [];
  for (const l of data.rejected.slice(0, maxLots)) {
    lines.push(`Rejected ${l.lot_id} (${l.product} / ${l.inspection_class}${l.supplier ? `, ${l.supplier}` : ''}): ${l.defectives} of ${l.inspected} nonconforming, Re ${l.re} under ${l.plan}; ${l.state_before} inspection, now ${l.state_after}.`);
  }
  if (data.rejected.length > maxLots) lines.push(`… and ${data.rejected.length - maxLots} more rejected lot(s) on the Lot sampling sheet.`);
  for (const c of data.changes) lines.push(`${c.product} / ${c.inspection_class}: ${c.from_state} → ${c.to_state}${c.lot_id ? ` after lot ${c.lot_id}` : ''} (${c.reason}).`);
  const title = `Lot sampling: ${data.rejected.length} lot(s) rejected, ${data.changes.length} change(s) of inspection state (see the Lot sampling sheet)`;
  return {
    text: [title, ...lines.map((l) => `  - ${l}`)].join('\n'),
    html: `<h3 style="${P}font-size:15px;color:#1f3864;">${escapeHtml(title)}</h3><ul style="${P}padding-left:20px;">${lines.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>`,
  };
}
