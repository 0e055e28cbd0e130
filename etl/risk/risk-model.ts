/**
 * Fitting a cell-risk model version and evaluating it on held-out cells, pure: the encoding from
 * the training cells, the logistic regression (etl/risk/logistic.ts) on the standardised design,
 * and the held-out cells' AUC, precision and recall at the threshold, and calibration by decile
 * (etl/risk/evaluation.ts).
 */
import { fitLogistic } from './logistic.js';
import { evaluate, thinCurve, type Evaluation } from './evaluation.js';
import { designColumns, encodeCell, fitEncoding, scoreCell, type CellFeatures, type Encoding, type FeatureSelection, type ScoringModel } from './features.js';
import type { ModelColumn } from './model-store.js';

export interface RiskFit {
  encoding: Encoding;
  intercept: { coefficient: number; se: number };
  columns: ModelColumn[];
  ridge: number;
  separated: boolean;
  converged: boolean;
  nTrain: number;
  positivesTrain: number;
  /** The held-out evaluation (the ROC curve thinned to at most 200 points); null without held-out cells. */
  heldOut: Evaluation | null;
}

/** ROC points kept with a model. */
const ROC_POINTS = 200;

export function fitRiskModel(train: readonly CellFeatures[], test: readonly CellFeatures[], opts: { features: FeatureSelection; ridge: number; threshold: number }): RiskFit {
  const labelled = train.filter((c) => c.label !== null);
  const encoding = fitEncoding(labelled, opts.features);
  const x = labelled.map((c) => encodeCell(encoding, c));
  const y = labelled.map((c) => c.label!);
  const columns = designColumns(encoding);
  // The design is standardised already (the encoding is what scores new cells), so the fit leaves it as it is.
  const fit = fitLogistic(x, y, { ridge: opts.ridge, standardise: columns.map(() => false) });
  const sdOf = new Map(encoding.numeric.map((n) => [n.feature, n.sd]));
  const modelColumns = columns.map((c, j): ModelColumn => {
    const coefficient = fit.coefficients[j]!;
    const se = fit.standardErrors[j]!;
    const sd = c.level === undefined ? sdOf.get(c.feature as never) : undefined;
    return { ...c, coefficient, se, ...(sd !== undefined ? { perUnit: { coefficient: coefficient / sd, se: se / sd } } : {}) };
  });
  const model: ScoringModel = { version: 0, threshold: opts.threshold, encoding, intercept: fit.intercept, coefficients: fit.coefficients };
  const held = test.filter((c) => c.label !== null);
  let heldOut: Evaluation | null = null;
  if (held.length > 0) {
    const scored = held.map((c) => scoreCell(model, c));
    const e = evaluate(scored.map((s) => s.score), scored.map((s) => s.probability), held.map((c) => c.label!), opts.threshold);
    heldOut = { ...e, roc: thinCurve(e.roc, ROC_POINTS) };
  }
  return {
    encoding,
    intercept: { coefficient: fit.intercept, se: fit.interceptSe },
    columns: modelColumns,
    ridge: fit.ridge,
    separated: fit.separated,
    converged: fit.converged,
    nTrain: labelled.length,
    positivesTrain: fit.events,
    heldOut,
  };
}
