/**
 * The daily yield report's optional sections: the SPC sheet with its chart images, and the Defect
 * trace sheet with its chart. Each is read from what its own job stored (spc_* tables,
 * summary_defect_winder), so the report shows the same limits, violations and verdicts as the job
 * and its alert mail. A section appears when its job has stored results and it is switched on in
 * reports.dailyYield.sections; each may add a paragraph to the email.
 */
import { dayStartInstant, addDays } from '../etl/periods.js';
import type { EtlContext } from '../etl/context.js';
import { readStoredSeries, readStoredSpc } from '../etl/spc-store.js';
import { enabledMeasures } from '../etl/spc-measures.js';
import { loadDefectTrace } from '../etl/defect-trace.js';
import { UNTRACED } from '../etl/lead-indicator.js';
import { addSpcSheet, chartsToDraw, spcParagraph, spcSheetRows, SPC_COLUMNS, type SpcSheetRow } from './spc-sheet.js';
import { chartPointsFromStored, renderSpcChart, violationMarksFromStored } from './spc-chart.js';
import { addDefectTraceSheet, defectTraceParagraph, defectTraceSheetData, renderDefectTraceChart, DEFECT_TRACE_DEFINITIONS } from './defect-trace-sheet.js';
import type { AppendixSheet } from './daily-yield-workbook.js';
import type { Png } from './charts.js';
import { loadFlowDay } from '../etl/flow/flow-store.js';
import { addProcessFlowSheet, processFlowParagraph, processFlowSheetData, productOrder, PROCESS_FLOW_DEFINITIONS } from './flow/process-flow-sheet.js';
import { renderProcessMap } from './flow/process-map.js';
import { loadSamplingDay } from '../etl/sampling/sampling-store.js';
import { addLotSamplingSheet, curvesToDraw, lotSamplingParagraph, lotSamplingSheetData, LOT_SAMPLING_DEFINITIONS } from './sampling/lot-sampling-sheet.js';
import { renderOcChart, type CurvePlan } from './sampling/oc-chart.js';
import { computeRisk, readRisk } from '../etl/mes/risk-store.js';
import { readOrders, lastPulledAt } from '../etl/mes/orders.js';
import { addDeliveryRiskSheet, deliveryRiskParagraph, DELIVERY_RISK_COLUMNS, type DeliveryRiskData } from './mes/delivery-risk-sheet.js';
import { readModel, readScores } from '../etl/risk/model-store.js';
import { addCellRiskSheet, cellRiskParagraph, cellRiskSheetData, CELL_RISK_DEFINITIONS } from './risk/cell-risk-sheet.js';
import { renderRocChart, renderScoreHistogram } from './risk/risk-charts.js';

export interface ReportSection {
  sheet: AppendixSheet;
  /** A paragraph for the email, or null when there is nothing to tell on the day. */
  email: { text: string; html: string } | null;
  /** What the section found, for the run's statistics. */
  stats: Record<string, number | string>;
}

/** The control chart of one sheet row over its charted window, as a PNG. */
async function chartImage(ctx: EtlContext, r: SpcSheetRow) {
  const range = { from: dayStartInstant(r.windowFrom, ctx.clock).toJSDate(), to: dayStartInstant(addDays(r.windowTo, 1), ctx.clock).toJSDate() };
  const series = await readStoredSeries(ctx, r.measure, r.chartKey, range);
  return renderSpcChart(
    {
      title: r.title,
      key: r.chartKey,
      chart: r.chart,
      unit: r.unit,
      points: chartPointsFromStored(series.points),
      violations: violationMarksFromStored(series.violations),
      spec: { lsl: r.lsl, usl: r.usl, target: r.target },
      limitsNote: r.limitsNote,
    },
    { timezone: ctx.config.plant.timezone },
  );
}

/** The SPC sheet of the latest spc run, for the configured measures; null when none is configured or charted. */
export async function spcSection(ctx: EtlContext, day: string): Promise<ReportSection | null> {
  const measures = enabledMeasures(ctx.config);
  if (measures.length === 0) return null;
  const stored = await readStoredSpc(ctx, { measures: measures.map((m) => m.name) });
  if (stored.charts.length === 0) return null;
  const rows = spcSheetRows(stored, { clock: ctx.clock, measures, asOf: dayStartInstant(addDays(day, 1), ctx.clock).toJSDate() });
  const charts: { png: Png; title: string }[] = [];
  for (const r of chartsToDraw(rows, ctx.config.reports.dailyYield.spcCharts)) {
    charts.push({ png: await chartImage(ctx, r), title: `${r.title} · ${r.chartKey} (${r.chart}, ${r.windowFrom} to ${r.windowTo}): ${r.eventId !== null ? `${r.eventState}, event ${r.eventId}, rules ${r.eventRules}` : `${r.warnings} warning(s)`}` });
  }
  const paragraph = spcParagraph(rows, day, ctx.config.plant.timezone);
  return {
    sheet: {
      name: 'SPC',
      write: (book) => addSpcSheet(book, rows, { timezone: ctx.config.plant.timezone, charts }),
      definitions: SPC_COLUMNS.map((c) => ({ column: c.header, meaning: c.meaning })),
    },
    // Only a day with an open out-of-control event adds to the email; the sheet always has the full picture.
    email: paragraph && paragraph.flagged > 0 ? paragraph : null,
    stats: { spcCharts: rows.length, spcOpenEvents: paragraph?.flagged ?? 0, spcChartImages: charts.length },
  };
}

/** The Defect trace sheet for the day; null when the defect trace has no rows for it. */
export async function defectTraceSection(ctx: EtlContext, day: string): Promise<ReportSection | null> {
  const input = await loadDefectTrace(ctx, day);
  if (!input.rows.some((r) => r.day === day)) return null;
  const data = defectTraceSheetData(input);
  const chart = data.chart.points.length ? await renderDefectTraceChart(data) : undefined;
  return {
    sheet: {
      name: 'Defect trace',
      write: (book) => addDefectTraceSheet(book, data, { chart }),
      definitions: DEFECT_TRACE_DEFINITIONS,
    },
    // The email speaks when a winder is above its threshold or its gap is already off.
    email: data.above.length || data.watch.length ? defectTraceParagraph(data) : null,
    stats: {
      defectTraceWinders: data.winders.filter((w) => w.winder !== UNTRACED).length,
      defectTraceAbove: data.above.map((w) => w.winder).join(', '),
      defectTraceWatch: data.watch.map((w) => w.winder).join(', '),
    },
  };
}

/** Process maps drawn per report: the products with the most cases on the day. */
const PROCESS_MAPS = 8;

/** The Process flow sheet with its maps; null when the process-flow job stored nothing for the day. */
export async function processFlowSection(ctx: EtlContext, day: string): Promise<ReportSection | null> {
  const rows = await loadFlowDay(ctx, day);
  if (rows.conformance.length === 0) return null;
  const thresholds = ctx.config.flow;
  const data = processFlowSheetData(rows, day, thresholds);
  const maps: { product: string; png: Png }[] = [];
  for (const product of productOrder(rows).slice(0, PROCESS_MAPS)) {
    const own = <T extends { product: string }>(xs: readonly T[]) => xs.filter((x) => x.product === product);
    maps.push({ product, png: await renderProcessMap(product, day, own(rows.edges), own(rows.steps)) });
  }
  return {
    sheet: { name: 'Process flow', write: (book) => addProcessFlowSheet(book, data, maps), definitions: PROCESS_FLOW_DEFINITIONS },
    email: processFlowParagraph(data, thresholds),
    stats: {
      flowBottleneck: data.bottleneck ? `${data.bottleneck.product} ${data.bottleneck.step}` : '',
      flowWorstRework: data.worstRework ? `${data.worstRework.product} ${data.worstRework.step}` : '',
      flowMaps: maps.length,
    },
  };
}

/** OC / AOQ pictures on the Lot sampling sheet: the plans with rejected lots first, then the most used. */
const OC_CURVES = 6;

/** The Lot sampling sheet with its curves; null when the lot-sampling job judged no lot on the day. */
export async function lotSamplingSection(ctx: EtlContext, day: string): Promise<ReportSection | null> {
  const stored = await loadSamplingDay(ctx, day);
  if (stored.lots.length === 0) return null;
  const data = lotSamplingSheetData(day, stored.lots, stored.changes, ctx.config.plant.timezone);
  const curves: { plan: CurvePlan; png: Png }[] = [];
  for (const plan of curvesToDraw(data, OC_CURVES)) curves.push({ plan, png: await renderOcChart(plan) });
  return {
    sheet: { name: 'Lot sampling', write: (book) => addLotSamplingSheet(book, data, curves, ctx.config.plant.timezone), definitions: LOT_SAMPLING_DEFINITIONS },
    email: lotSamplingParagraph(data, ctx.config.sampling.emailLots),
    stats: { samplingLots: data.lots.length, samplingRejected: data.rejected.length, samplingChanges: data.changes.length, samplingCurves: curves.length },
  };
}

/**
 * The Delivery risk sheet: the open MES orders as the exchange stored them for the day, or, when
 * it has not run for the day yet (it runs beside the report), computed the same way from the
 * orders last pulled. Null when no order was ever pulled.
 */
export async function deliveryRiskSection(ctx: EtlContext, day: string): Promise<ReportSection | null> {
  let rows = await readRisk(ctx, day);
  let pulledAt: string | undefined;
  if (rows.length === 0) {
    const orders = await readOrders(ctx);
    if (orders.length === 0) return null;
    rows = await computeRisk(ctx, day, orders);
    pulledAt = (await lastPulledAt(ctx))?.toISOString();
  }
  const data: DeliveryRiskData = { day, rows, rateWindowDays: rows[0]?.rateWindowDays ?? ctx.config.mes.rateWindowDays, computedFromOrdersPulledAt: pulledAt };
  return {
    sheet: { name: 'Delivery risk', write: (book) => addDeliveryRiskSheet(book, data), definitions: DELIVERY_RISK_COLUMNS.map((c) => ({ column: c.header, meaning: c.meaning })) },
    email: deliveryRiskParagraph(data),
    stats: { openOrders: rows.length, ordersAtRisk: rows.filter((r) => r.atRisk).length },
  };
}

/**
 * The Cell risk sheet with its score histogram and ROC curve; null when the cell-risk job scored
 * no cell on the day.
 */
export async function cellRiskSection(ctx: EtlContext, day: string): Promise<ReportSection | null> {
  const rows = await readScores(ctx, day);
  if (rows.length === 0) return null;
  const model = await readModel(ctx, Math.max(...rows.map((r) => r.model_version)));
  const data = cellRiskSheetData(day, rows, model, ctx.config.risk.threshold);
  const histogram = await renderScoreHistogram(data.cells.map((c) => c.score), { day, threshold: data.threshold, version: model?.version ?? 0 });
  const roc = model && model.roc.length > 1 ? await renderRocChart(model.roc, { version: model.version, auc: model.auc, test: model.test }) : null;
  return {
    sheet: { name: 'Cell risk', write: (book) => addCellRiskSheet(book, data, { histogram, roc }), definitions: CELL_RISK_DEFINITIONS },
    email: cellRiskParagraph(data),
    stats: { riskCells: data.cells.length, riskHigh: data.highRisk.length, riskModelVersion: model?.version ?? 0 },
  };
}
