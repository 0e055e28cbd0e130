/**
 * The cell-risk model versions in risk_models and the scores in cell_risk (migration 014): a new
 * version retires the active one (kept, never deleted); a day's scores are replaced as a whole.
 */
import type { Knex } from 'knex';
import { targetTable, type EtlContext } from '../context.js';
import { isoDate } from '../nightly-summary.js';
import { insertBatched } from '../../sql/batch-insert.js';
import type { CalibrationBin, RocPoint } from './evaluation.js';
import type { DesignColumn, Encoding, FeatureSelection, ScoringModel } from './features.js';

export const RISK_TABLES = { models: 'risk_models', scores: 'cell_risk' } as const;

export interface ModelColumn extends DesignColumn {
  /** On the standardised scale (numeric: per standard deviation of the training cells). */
  coefficient: number;
  se: number;
  /** Numeric features: per unit of the feature (coefficient / sd). */
  perUnit?: { coefficient: number; se: number };
}

export interface StoredModel {
  version: number;
  status: 'active' | 'retired';
  fitDay: string;
  fittedAt: Date;
  fittedBy: string;
  runId: number;
  train: { from: string; to: string };
  test: { from: string; to: string };
  selection: FeatureSelection;
  encoding: Encoding;
  intercept: { coefficient: number; se: number };
  columns: ModelColumn[];
  ridge: number;
  separated: boolean;
  nTrain: number;
  nTest: number;
  positivesTrain: number;
  positivesTest: number;
  auc: number | null;
  precision: number | null;
  recall: number | null;
  threshold: number;
  calibration: CalibrationBin[];
  roc: RocPoint[];
}

export function scoringModel(m: StoredModel): ScoringModel {
  return { version: m.version, threshold: m.threshold, encoding: m.encoding, intercept: m.intercept.coefficient, coefficients: m.columns.map((c) => c.coefficient) };
}

const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** JSON cannot hold Infinity: the ROC curve's first point (threshold +∞) is stored as null. */
function rocFromJson(text: string): RocPoint[] {
  return (JSON.parse(text) as { threshold: number | null; fpr: number; tpr: number }[]).map((p) => ({ ...p, threshold: p.threshold ?? Number.POSITIVE_INFINITY }));
}

function modelOf(r: Record<string, unknown>): StoredModel {
  const features = JSON.parse(String(r.features)) as { selection: FeatureSelection; encoding: Encoding };
  const coefficients = JSON.parse(String(r.coefficients)) as { intercept: StoredModel['intercept']; columns: ModelColumn[] };
  const at = r.fitted_at;
  return {
    version: Number(r.version),
    status: String(r.status) as StoredModel['status'],
    fitDay: isoDate(r.fit_day),
    fittedAt: at instanceof Date ? at : new Date(typeof at === 'number' || /^\d+$/.test(String(at)) ? Number(at) : String(at)),
    fittedBy: String(r.fitted_by),
    runId: Number(r.run_id),
    train: { from: isoDate(r.train_from), to: isoDate(r.train_to) },
    test: { from: isoDate(r.test_from), to: isoDate(r.test_to) },
    selection: features.selection,
    encoding: features.encoding,
    intercept: coefficients.intercept,
    columns: coefficients.columns,
    ridge: Number(r.ridge),
    separated: Boolean(Number(r.separated)) || r.separated === true,
    nTrain: Number(r.n_train),
    nTest: Number(r.n_test),
    positivesTrain: Number(r.positives_train),
    positivesTest: Number(r.positives_test),
    auc: numOrNull(r.auc),
    precision: numOrNull(r.precision_at_threshold),
    recall: numOrNull(r.recall_at_threshold),
    threshold: Number(r.threshold),
    calibration: JSON.parse(String(r.calibration)) as CalibrationBin[],
    roc: rocFromJson(String(r.roc)),
  };
}

export async function readActiveModel(ctx: EtlContext, db: Knex | Knex.Transaction = ctx.target): Promise<StoredModel | null> {
  const r = (await targetTable(ctx, db, RISK_TABLES.models).where({ status: 'active' }).orderBy('version', 'desc').first()) as Record<string, unknown> | undefined;
  return r ? modelOf(r) : null;
}

export async function readModel(ctx: EtlContext, version: number): Promise<StoredModel | null> {
  const r = (await targetTable(ctx, ctx.target, RISK_TABLES.models).where({ version }).first()) as Record<string, unknown> | undefined;
  return r ? modelOf(r) : null;
}

/** Every version, newest first. */
export async function listModels(ctx: EtlContext): Promise<StoredModel[]> {
  const rows = (await targetTable(ctx, ctx.target, RISK_TABLES.models).orderBy('version', 'desc').select('*')) as Record<string, unknown>[];
  return rows.map(modelOf);
}

/** Stores a new version as the active one, the previous active one retired; returns its version. */
export async function storeModel(ctx: EtlContext, trx: Knex.Transaction, m: Omit<StoredModel, 'version' | 'status'>): Promise<number> {
  const last = (await targetTable(ctx, trx, RISK_TABLES.models).max({ v: 'version' }).first()) as { v: unknown } | undefined;
  const version = Number(last?.v ?? 0) + 1;
  await targetTable(ctx, trx, RISK_TABLES.models).where({ status: 'active' }).update({ status: 'retired' });
  await targetTable(ctx, trx, RISK_TABLES.models).insert({
    version,
    status: 'active',
    fit_day: m.fitDay,
    fitted_at: m.fittedAt,
    fitted_by: m.fittedBy.slice(0, 255),
    run_id: m.runId,
    train_from: m.train.from,
    train_to: m.train.to,
    test_from: m.test.from,
    test_to: m.test.to,
    features: JSON.stringify({ selection: m.selection, encoding: m.encoding }),
    coefficients: JSON.stringify({ intercept: m.intercept, columns: m.columns }),
    ridge: m.ridge,
    separated: m.separated,
    n_train: m.nTrain,
    n_test: m.nTest,
    positives_train: m.positivesTrain,
    positives_test: m.positivesTest,
    auc: m.auc,
    precision_at_threshold: m.precision,
    recall_at_threshold: m.recall,
    threshold: m.threshold,
    calibration: JSON.stringify(m.calibration),
    roc: JSON.stringify(m.roc.map((p) => ({ ...p, threshold: Number.isFinite(p.threshold) ? p.threshold : null }))),
  });
  return version;
}

export interface CellRiskRow {
  day: string;
  cell_id: string;
  lot_id: string | null;
  winder: string | null;
  score: number;
  class: string;
  top_features: string;
  model_version: number;
}

/** Replaces the day's scores (inside the caller's transaction). */
export async function replaceScores(ctx: EtlContext, trx: Knex.Transaction, day: string, rows: readonly CellRiskRow[], stamp: { run_id: number; computed_at: Date }): Promise<number> {
  await targetTable(ctx, trx, RISK_TABLES.scores).where({ day }).delete();
  return insertBatched(trx, ctx.targetDialect, RISK_TABLES.scores, rows.map((r) => ({ ...r, ...stamp })), { schema: ctx.targetSchema });
}

/** The day's scores, highest first (ties by cell). */
export async function readScores(ctx: EtlContext, day: string): Promise<CellRiskRow[]> {
  const rows = (await targetTable(ctx, ctx.target, RISK_TABLES.scores)
    .where({ day })
    .orderBy([{ column: 'score', order: 'desc' }, { column: 'cell_id' }])
    .select('day', 'cell_id', 'lot_id', 'winder', 'score', 'class', 'top_features', 'model_version')) as Record<string, unknown>[];
  return rows.map((r) => ({
    day: isoDate(r.day),
    cell_id: String(r.cell_id),
    lot_id: (r.lot_id as string | null) ?? null,
    winder: (r.winder as string | null) ?? null,
    score: Number(r.score),
    class: String(r.class),
    top_features: String(r.top_features),
    model_version: Number(r.model_version),
  }));
}
