/**
 * The cell-risk job (README "Cell risk"): for a production day D, the cells whose ageing ended on
 * D are scored by the active model version into cell_risk (score = 100 · P(failure), the class by
 * risk.threshold, the three features that raised the score most).
 *
 * A new version is fitted first when there is none, when the active one was fitted
 * risk.refitEveryDays or more production days before D, or when a refit is asked for: on the
 * cells with a known outcome of the training window, evaluated on the held-out window after it.
 *
 *   labelled up to   L = D − outcomeAfterDays
 *   held out         L − heldOutDays + 1 … L
 *   training         the trainingDays before the held-out window
 *
 * A cell's outcome is what the outcome table says before the end of D; a cell without a row counts
 * as good. Too few training cells or failures: with an active version, D is scored with it and the
 * run says why no new version was fitted; without one, the run fails saying what is missing.
 *
 * The new version (the old one retired, kept), the day's scores and nothing else are written in
 * one transaction per day.
 */
import type { EtlContext } from '../context.js';
import { addDays, dayStartInstant, daysBetween } from '../periods.js';
import { finishRun, recordFailure, requestedDays, startRun, type JobRequest, type RunTotals } from '../run-log.js';
import { checkRiskSources, readCells } from './cell-features.js';
import { HIGH_RISK, scoreCell, topFeatures } from './features.js';
import { fitRiskModel } from './risk-model.js';
import { readActiveModel, replaceScores, scoringModel, storeModel, type CellRiskRow, type StoredModel } from './model-store.js';

export const CELL_RISK = 'cell-risk';

export interface CellRiskRequest extends JobRequest {
  /** Fit a new version for the (first) day whatever the age of the active one. */
  refit?: boolean;
}

export interface FittedVersion {
  version: number;
  train: { from: string; to: string; cells: number; failures: number };
  test: { from: string; to: string; cells: number; failures: number };
  auc: number | null;
  precision: number | null;
  recall: number | null;
  separated: boolean;
}

export interface CellRiskDay {
  day: string;
  cells: number;
  highRisk: number;
  /** High-risk cells per lot, most first. */
  highRiskByLot: { lotId: string; cells: number }[];
  modelVersion: number;
  /** The version fitted for this day, if one was. */
  fitted: FittedVersion | null;
  /** Why no new version was fitted although one was due. */
  notRefitted?: string;
}

export interface CellRiskResult {
  runId: number;
  days: string[];
  perDay: CellRiskDay[];
  rowsWritten: number;
  durationMs: number;
}

/** The windows of a fit for day D (pure). */
export function fitWindows(day: string, r: { outcomeAfterDays: number; heldOutDays: number; trainingDays: number }): { train: { from: string; to: string }; test: { from: string; to: string } } {
  const last = addDays(day, -r.outcomeAfterDays);
  const testFrom = addDays(last, -(r.heldOutDays - 1));
  const trainTo = addDays(testFrom, -1);
  return { train: { from: addDays(trainTo, -(r.trainingDays - 1)), to: trainTo }, test: { from: testFrom, to: last } };
}

/** Whether D needs a new version (pure): none yet, asked for, or the active one is refitEveryDays old. */
export function refitDue(active: Pick<StoredModel, 'fitDay'> | null, day: string, refitEveryDays: number, asked: boolean): boolean {
  return asked || active === null || daysBetween(active.fitDay, day) >= refitEveryDays;
}

export async function runCellRisk(ctx: EtlContext, req: CellRiskRequest): Promise<CellRiskResult> {
  const t0 = Date.now();
  const days = requestedDays(req, ctx.clock);
  const startedAt = new Date();
  const runId = await startRun(ctx, { job: CELL_RISK, days, triggeredBy: req.triggeredBy, reason: req.reason, queueJobId: req.queueJobId, attempt: req.attempt }, startedAt);
  const log = ctx.log.child({ job: CELL_RISK, runId, from: days[0], to: days[days.length - 1] });
  const totals: RunTotals = { rows_read: 0, rows_valid: 0, rows_rejected: 0, duplicates_dropped: 0, rows_written: 0, stats: {} };
  const cfg = ctx.config.risk;
  const perDay: CellRiskDay[] = [];
  try {
    await checkRiskSources(ctx);
    for (const [i, day] of days.entries()) {
      const knownBefore = dayStartInstant(addDays(day, 1), ctx.clock);
      let active = await readActiveModel(ctx);
      let fitted: FittedVersion | null = null;
      let notRefitted: string | undefined;
      let pending: Omit<StoredModel, 'version' | 'status'> | null = null;
      if (refitDue(active, day, cfg.refitEveryDays, req.refit === true && i === 0)) {
        const w = fitWindows(day, cfg);
        const train = await readCells(ctx, w.train.from, w.train.to, knownBefore, true);
        const test = await readCells(ctx, w.test.from, w.test.to, knownBefore, true);
        totals.rows_read += train.length + test.length;
        const failures = train.filter((c) => c.label === 1).length;
        const short =
          train.length < cfg.minTrainingCells
            ? `${train.length} cell(s) with a known outcome aged ${w.train.from} … ${w.train.to}, fewer than risk.minTrainingCells ${cfg.minTrainingCells}`
            : failures < cfg.minTrainingFailures
              ? `${failures} failed cell(s) aged ${w.train.from} … ${w.train.to}, fewer than risk.minTrainingFailures ${cfg.minTrainingFailures}`
              : failures === train.length
                ? `every training cell aged ${w.train.from} … ${w.train.to} failed`
                : null;
        if (short && !active) {
          throw new Error(`cell risk ${day}: no model to score with and none can be fitted: ${short} (outcomes count once the ageing ended risk.outcomeAfterDays = ${cfg.outcomeAfterDays} days before the day)`);
        }
        if (short) {
          notRefitted = `kept version ${active!.version}: ${short}`;
          log.warn({ day, version: active!.version }, notRefitted);
        } else {
          const fit = fitRiskModel(train, test, { features: cfg.features, ridge: cfg.ridge, threshold: cfg.threshold });
          const e = fit.heldOut;
          pending = {
            fitDay: day,
            fittedAt: new Date(),
            fittedBy: req.triggeredBy,
            runId,
            train: w.train,
            test: w.test,
            selection: { numeric: [...cfg.features.numeric], categorical: [...cfg.features.categorical] },
            encoding: fit.encoding,
            intercept: fit.intercept,
            columns: fit.columns,
            ridge: fit.ridge,
            separated: fit.separated,
            nTrain: fit.nTrain,
            nTest: e?.cells ?? 0,
            positivesTrain: fit.positivesTrain,
            positivesTest: e?.events ?? 0,
            auc: e?.auc ?? null,
            precision: e?.precision ?? null,
            recall: e?.recall ?? null,
            threshold: cfg.threshold,
            calibration: e?.calibration ?? [],
            roc: e?.roc ?? [],
          };
          fitted = {
            version: 0,
            train: { ...w.train, cells: fit.nTrain, failures: fit.positivesTrain },
            test: { ...w.test, cells: e?.cells ?? 0, failures: e?.events ?? 0 },
            auc: pending.auc,
            precision: pending.precision,
            recall: pending.recall,
            separated: fit.separated,
          };
        }
      }
      const cells = await readCells(ctx, day, day, knownBefore, false);
      totals.rows_read += cells.length;
      totals.rows_valid += cells.length;
      const rows = await ctx.target.transaction(async (trx) => {
        if (pending) {
          const version = await storeModel(ctx, trx, pending);
          active = { ...pending, version, status: 'active' };
          fitted!.version = version;
          totals.rows_written += 1;
        }
        const model = scoringModel(active!);
        const scored = cells.map((c): CellRiskRow => {
          const s = scoreCell(model, c);
          return {
            day,
            cell_id: c.cellId.slice(0, 100),
            lot_id: c.lotId?.slice(0, 100) ?? null,
            winder: c.winder?.slice(0, 100) ?? null,
            score: s.score,
            class: s.class,
            top_features: JSON.stringify(topFeatures(s)).slice(0, 1000),
            model_version: model.version,
          };
        });
        totals.rows_written += await replaceScores(ctx, trx, day, scored, { run_id: runId, computed_at: new Date() });
        return scored;
      });
      const high = rows.filter((r) => r.class === HIGH_RISK);
      const byLot = new Map<string, number>();
      for (const r of high) byLot.set(r.lot_id ?? '(none)', (byLot.get(r.lot_id ?? '(none)') ?? 0) + 1);
      perDay.push({
        day,
        cells: rows.length,
        highRisk: high.length,
        highRiskByLot: [...byLot].map(([lotId, n]) => ({ lotId, cells: n })).sort((a, b) => b.cells - a.cells || a.lotId.localeCompare(b.lotId)),
        modelVersion: active!.version,
        fitted,
        ...(notRefitted ? { notRefitted } : {}),
      });
      req.onProgress?.((i + 1) / days.length);
    }
    totals.stats = { perDay: perDay.map((d) => ({ day: d.day, cells: d.cells, highRisk: d.highRisk, modelVersion: d.modelVersion, fittedVersion: d.fitted?.version ?? null, notRefitted: d.notRefitted ?? null })) };
    await finishRun(ctx, ctx.target, runId, startedAt, { status: 'succeeded', totals });
    const result: CellRiskResult = { runId, days, perDay, rowsWritten: totals.rows_written, durationMs: Date.now() - t0 };
    log.info({ cells: perDay.reduce((a, d) => a + d.cells, 0), highRisk: perDay.reduce((a, d) => a + d.highRisk, 0) }, 'cell risk succeeded');
    return result;
  } catch (err) {
    log.error({ err: (err as Error).message }, 'cell risk failed');
    await recordFailure(ctx, runId, startedAt, err, totals);
    throw err;
  }
}

const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(1)} %`);

/** Lines for a person. */
export function describeCellRisk(r: CellRiskResult): string[] {
  const lines: string[] = [];
  for (const d of r.perDay) {
    if (d.fitted) {
      const f = d.fitted;
      lines.push(
        `${d.day}: fitted version ${f.version} on ${f.train.cells} cells aged ${f.train.from} … ${f.train.to} (${f.train.failures} failed); held out ${f.test.from} … ${f.test.to}: ${f.test.cells} cells, ${f.test.failures} failed, AUC ${f.auc === null ? '–' : f.auc.toFixed(3)}, precision ${pct(f.precision)}, recall ${pct(f.recall)}${f.separated ? ' (separated: fitted with a ridge)' : ''}`,
      );
    }
    if (d.notRefitted) lines.push(`${d.day}: no new version: ${d.notRefitted}`);
    const lots = d.highRiskByLot.slice(0, 5).map((l) => `${l.lotId} ${l.cells}`).join(', ');
    lines.push(`${d.day}: ${d.cells} cell(s) scored with version ${d.modelVersion}, ${d.highRisk} high risk (short-term test recommended)${lots ? `: ${lots}${d.highRiskByLot.length > 5 ? ', …' : ''}` : ''}`);
  }
  lines.unshift(`run ${r.runId}: ${r.days.length} day(s) ${r.days[0]}${r.days.length > 1 ? ` … ${r.days[r.days.length - 1]}` : ''}`);
  lines.push(`took ${(r.durationMs / 1000).toFixed(2)} s`);
  return lines;
}
