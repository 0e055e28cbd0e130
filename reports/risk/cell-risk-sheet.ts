/**
 * The Cell risk sheet of the daily workbook and its email paragraph: the cells aged on the day
 * with their scores (high-risk cells first) and the features that raised them most; the model
 * version that scored them with its windows, held-out metrics, calibration and coefficients with
 * standard errors; the score histogram and the ROC curve as pictures. Pure but for the workbook
 * writer.
 */
import type ExcelJS from 'exceljs';
import type { CellRiskRow, ModelColumn, StoredModel } from '../../etl/risk/model-store.js';
import type { CalibrationBin } from '../../etl/risk/evaluation.js';
import { FEATURE_MEANINGS, HIGH_RISK } from '../../etl/risk/features.js';
import { escapeHtml } from '../daily-yield-email.js';
import { addPicture, titledTable, type SheetColumn, type StreamBook } from '../xlsx-stream-parts.js';
import type { Png } from '../charts.js';

interface TopFeature {
  feature: string;
  value: number | string | null;
  contribution: number;
}

export interface SheetCell {
  cellId: string;
  lotId: string | null;
  winder: string | null;
  score: number;
  class: string;
  top: TopFeature[];
}

export interface CellRiskSheetData {
  day: string;
  threshold: number;
  cells: SheetCell[];
  highRisk: SheetCell[];
  /** High-risk cells per lot, most first. */
  byLot: { lotId: string; cells: number }[];
  model: StoredModel | null;
}

function parseTop(text: string): TopFeature[] {
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? (v as TopFeature[]) : [];
  } catch {
    return [];
  }
}

/** The sheet's data from the stored rows (highest score first, ties by cell) and the model that scored them. */
export function cellRiskSheetData(day: string, rows: readonly CellRiskRow[], model: StoredModel | null, threshold: number): CellRiskSheetData {
  const cells = rows
    .map((r): SheetCell => ({ cellId: r.cell_id, lotId: r.lot_id, winder: r.winder, score: r.score, class: r.class, top: parseTop(r.top_features) }))
    .sort((a, b) => b.score - a.score || a.cellId.localeCompare(b.cellId));
  const highRisk = cells.filter((c) => c.class === HIGH_RISK);
  const lots = new Map<string, number>();
  for (const c of highRisk) lots.set(c.lotId ?? '(none)', (lots.get(c.lotId ?? '(none)') ?? 0) + 1);
  const byLot = [...lots].map(([lotId, n]) => ({ lotId, cells: n })).sort((a, b) => b.cells - a.cells || a.lotId.localeCompare(b.lotId));
  return { day, threshold: model?.threshold ?? threshold, cells, highRisk, byLot, model };
}

const SCORE = '0.00';
const COEF = '0.0000';
const COUNT = '#,##0';

const topText = (t: TopFeature | undefined) => (t ? `${t.feature} = ${t.value ?? 'missing'}` : null);
const topContribution = (t: TopFeature | undefined) => (t ? t.contribution : null);

const CELL_COLUMNS: SheetColumn<SheetCell>[] = [
  { header: 'Cell', meaning: 'cell_id of a cell whose ageing ended on the day (formation table, fmt_dt)', value: (r) => r.cellId },
  { header: 'Lot', meaning: 'the cell lot (formation table lot_id)', value: (r) => r.lotId },
  { header: 'Winder', meaning: 'the winder that wound the cell (none: no winding record)', value: (r) => r.winder },
  { header: 'Score', meaning: '100 × the predicted probability that the cell fails later (a failed short-term test or a field return)', value: (r) => r.score, numFmt: SCORE },
  { header: 'Class', meaning: 'short-term test recommended at or above the threshold (risk.threshold), else safe for all usage', value: (r) => r.class },
  ...[0, 1, 2].flatMap((i): SheetColumn<SheetCell>[] => [
    { header: `Feature ${i + 1}`, meaning: `the feature with the ${['largest', 'second largest', 'third largest'][i]} contribution to the cell's score, with the cell's value`, value: (r) => topText(r.top[i]) },
    { header: `Contribution ${i + 1}`, meaning: 'its term of the log-odds: coefficient × standardised value (numeric), or the level\'s coefficient (categorical; 0 at the reference level)', value: (r) => topContribution(r.top[i]), numFmt: COEF },
  ]),
];

interface ModelFact {
  what: string;
  value: ExcelJS.CellValue;
}

const FACT_COLUMNS: SheetColumn<ModelFact>[] = [
  { header: 'Model', meaning: 'a fact of the model version that scored the day (risk_models)', value: (r) => r.what },
  { header: 'Value', meaning: 'its value', value: (r) => r.value },
];

function modelFacts(m: StoredModel): ModelFact[] {
  const f = (v: number | null, d = 3) => (v === null ? '–' : Number(v.toFixed(d)));
  return [
    { what: 'version', value: m.version },
    { what: 'status', value: m.status },
    { what: 'fitted for production day', value: m.fitDay },
    { what: 'fitted by', value: `${m.fittedBy} (run ${m.runId})` },
    { what: 'training window (end of ageing)', value: `${m.train.from} … ${m.train.to}` },
    { what: 'training cells / failed', value: `${m.nTrain} / ${m.positivesTrain}` },
    { what: 'held-out window', value: `${m.test.from} … ${m.test.to}` },
    { what: 'held-out cells / failed', value: `${m.nTest} / ${m.positivesTest}` },
    { what: 'held-out ROC AUC', value: f(m.auc) },
    { what: `precision at score ${m.threshold}`, value: f(m.precision) },
    { what: `recall at score ${m.threshold}`, value: f(m.recall) },
    { what: 'ridge λ (standardised coefficients)', value: m.ridge },
    { what: 'separated', value: m.separated ? 'yes: the data separate the outcome; the fit holds by its ridge' : 'no' },
  ];
}

interface Term {
  term: string;
  coefficient: number;
  se: number;
  perUnit: number | null;
  perUnitSe: number | null;
  meaning: string;
}

function terms(m: StoredModel): Term[] {
  const name = (c: ModelColumn) => (c.level === undefined ? c.feature : `${c.feature} = ${c.level}`);
  return [
    { term: 'intercept', coefficient: m.intercept.coefficient, se: m.intercept.se, perUnit: null, perUnitSe: null, meaning: 'log-odds of a cell at the training means and reference levels' },
    ...m.columns.map((c) => ({
      term: name(c),
      coefficient: c.coefficient,
      se: c.se,
      perUnit: c.perUnit?.coefficient ?? null,
      perUnitSe: c.perUnit?.se ?? null,
      meaning: c.level === undefined ? FEATURE_MEANINGS[c.feature] : `${FEATURE_MEANINGS[c.feature]}; against ${m.encoding.categorical.find((x) => x.feature === c.feature)?.reference ?? '–'}`,
    })),
  ];
}

const TERM_COLUMNS: SheetColumn<Term>[] = [
  { header: 'Term', meaning: 'a column of the model: a numeric feature, or one level of a categorical feature (against its reference level, the most frequent in training)', value: (r) => r.term },
  { header: 'Coefficient', meaning: 'log-odds per standard deviation of the training cells (numeric) or of the level against the reference (categorical)', value: (r) => r.coefficient, numFmt: COEF },
  { header: 'Std. error', meaning: 'its Wald standard error (of the ridge-penalised fit)', value: (r) => r.se, numFmt: COEF },
  { header: 'z', meaning: 'coefficient / standard error', value: (r) => (r.se > 0 ? r.coefficient / r.se : null), numFmt: '0.00' },
  { header: 'Per unit', meaning: 'numeric features: log-odds per unit of the feature (per mm of gap, per mV/day of K-value …)', value: (r) => r.perUnit, numFmt: COEF },
  { header: 'Per unit s.e.', meaning: 'its standard error', value: (r) => r.perUnitSe, numFmt: COEF },
  { header: 'Meaning', meaning: 'what the feature is', value: (r) => r.meaning },
];

const CALIBRATION_COLUMNS: SheetColumn<CalibrationBin>[] = [
  { header: 'Decile', meaning: 'held-out cells in ten groups of nearly equal size by predicted probability, lowest first', value: (r) => r.decile },
  { header: 'Cells', meaning: 'held-out cells in the decile', value: (r) => r.cells, numFmt: COUNT },
  { header: 'Mean predicted', meaning: 'their mean predicted failure probability', value: (r) => r.meanPredicted, numFmt: '0.00%' },
  { header: 'Observed', meaning: 'the share of them that failed', value: (r) => r.observedRate, numFmt: '0.00%' },
  { header: 'Scores', meaning: 'the lowest and highest score in the decile', value: (r) => `${r.minScore.toFixed(2)} … ${r.maxScore.toFixed(2)}` },
];

export const CELL_RISK_DEFINITIONS = [CELL_COLUMNS, FACT_COLUMNS, TERM_COLUMNS, CALIBRATION_COLUMNS].flatMap((cols) => cols.map((c) => ({ column: `Cell risk: ${c.header}`, meaning: c.meaning })));

export interface CellRiskPictures {
  histogram: Png;
  roc: Png | null;
}

export function addCellRiskSheet(book: StreamBook, data: CellRiskSheetData, pictures: CellRiskPictures): ExcelJS.Worksheet {
  const ws = book.wb.addWorksheet('Cell risk');
  [16, 18, 10, 9, 26, 24, 12, 24, 12, 24, 12].forEach((w, i) => (ws.getColumn(i + 1).width = w));
  const m = data.model;
  ws.getCell(1, 1).value = `Cell risk on ${data.day}: ${data.cells.length} cell(s) aged on the day, ${data.highRisk.length} at or above ${data.threshold} (short-term test recommended)${m ? `; model version ${m.version}, held-out AUC ${m.auc === null ? '–' : m.auc.toFixed(3)}` : ''}`;
  ws.getCell(1, 1).font = { bold: true };
  let r = 3;
  r = titledTable(book, ws, r, 'Cells, highest score first', 'RiskCells', CELL_COLUMNS, data.cells);
  if (m) {
    r = titledTable(book, ws, r, `Model version ${m.version}`, 'RiskModel', FACT_COLUMNS, modelFacts(m));
    r = titledTable(book, ws, r, 'Coefficients with standard errors', 'RiskTerms', TERM_COLUMNS, terms(m));
    r = titledTable(book, ws, r, 'Calibration of the held-out cells by decile', 'RiskCalibration', CALIBRATION_COLUMNS, m.calibration);
  }
  ws.getCell(r, 1).value = 'Score histogram (threshold marked) and the held-out ROC curve';
  ws.getCell(r, 1).font = { bold: true, size: 12 };
  let row = r;
  addPicture(book, ws, pictures.histogram, { col: 0, row }, 'Risk score histogram', `Risk scores of the cells aged on ${data.day}, threshold ${data.threshold}`);
  row += Math.ceil(pictures.histogram.height / 20) + 2;
  if (pictures.roc && m) addPicture(book, ws, pictures.roc, { col: 0, row }, 'ROC curve', `ROC of model version ${m.version} on the held-out cells`);
  ws.commit();
  return ws;
}

const P = 'font-family:Arial,Helvetica,sans-serif;font-size:13px;margin:0 0 6px 0;';

/** The email paragraph: the high-risk cells per lot; null when no cell was scored on the day. */
export function cellRiskParagraph(data: CellRiskSheetData, maxLots = 10): { text: string; html: string } | null {
  if (data.cells.length === 0) return null;
  const m = data.model;
  const model = m ? ` Model version ${m.version} (held-out AUC ${m.auc === null ? '–' : m.auc.toFixed(3)}).` : '';
  const listed = data.byLot.slice(0, maxLots).map((l) => `${l.lotId} ${l.cells}`);
  const more = data.byLot.length > listed.length ? `, and ${data.byLot.length - listed.length} more lot(s)` : '';
  const which = data.highRisk.length === 0 ? 'none is high risk' : `${data.highRisk.length} high risk (short-term test recommended), by lot: ${listed.join(', ')}${more}`;
  const line = `Cell risk: of ${data.cells.length} cell(s) aged on ${data.day}, ${which}.${model} See the Cell risk sheet.`;
  return { text: line, html: `<p style="${P}">${escapeHtml(line)}</p>` };
}
