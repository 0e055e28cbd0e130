/**
 * The cell-risk model's features and their encoding, pure: which features a cell has, how they
 * become the columns of the logistic regression (numeric ones standardised by the training cells'
 * mean and standard deviation, categorical ones one-hot against a reference level), and how a
 * fitted model turns a cell into a score, a class and its top contributions.
 *
 * A missing numeric value (a cell without a winding record has no gap; an unsampled cell no OQC
 * value) is imputed with the training mean: its standardised value is 0 and it contributes
 * nothing. A categorical level the training cells did not have is encoded as the reference level.
 */

export const NUMERIC_FEATURES = ['gap_mm', 'k_value', 'capacity_ah', 'dcir_mohm', 'ocv2_v', 'age_days', 'oqc_acir_mohm'] as const;
export const CATEGORICAL_FEATURES = ['winder', 'cef_defect', 'oqc_result', 'formation_eqp'] as const;
export type NumericFeature = (typeof NUMERIC_FEATURES)[number];
export type CategoricalFeature = (typeof CATEGORICAL_FEATURES)[number];

/** What each feature is, for the README, the sheet and `yieldrun risk models`. */
export const FEATURE_MEANINGS: Record<NumericFeature | CategoricalFeature, string> = {
  gap_mm: "separator–anode gap (mm): the winder's reading nearest the cell's winding",
  k_value: 'K-value (mV/day): OCV drop over ageing, (ocv1 − ocv2) · 1000 / age_days',
  capacity_ah: 'capacity at formation (Ah)',
  dcir_mohm: 'DC internal resistance (mΩ)',
  ocv2_v: 'OCV after ageing (V)',
  age_days: 'days of ageing between the two OCV readings',
  oqc_acir_mohm: 'AC resistance measured at OQC (mΩ), sampled cells only',
  winder: 'the winder that wound the cell (none: no winding record)',
  cef_defect: 'the CEF defect code (0 OK, 4 filling, 5 infusion; none: no CEF record)',
  oqc_result: 'the OQC result: OK, NG, or none (not sampled, or not inspected yet)',
  formation_eqp: 'the formation cabinet',
};

/** The level of a categorical feature the source has no value for. */
export const NO_LEVEL = 'none';

export const HIGH_RISK = 'short-term test recommended';
export const SAFE = 'safe for all usage';

export interface FeatureSelection {
  numeric: readonly NumericFeature[];
  categorical: readonly CategoricalFeature[];
}

/** One cell as the feature query gave it, the nearest gap reading chosen. */
export interface CellFeatures {
  cellId: string;
  lotId: string | null;
  winder: string | null;
  numeric: Record<NumericFeature, number | null>;
  categorical: Record<CategoricalFeature, string>;
  /** 1 failed, 0 good, null not known yet. */
  label: 0 | 1 | null;
}

export interface NumericEncoding {
  feature: NumericFeature;
  mean: number;
  sd: number;
  /** Training cells that had a value. */
  present: number;
}

export interface CategoricalEncoding {
  feature: CategoricalFeature;
  /** The level without a column (the most frequent in training, the first by name on a tie). */
  reference: string;
  /** The levels with a column, by name. */
  levels: string[];
}

export interface Encoding {
  numeric: NumericEncoding[];
  categorical: CategoricalEncoding[];
}

/** A design column: a numeric feature, or one level of a categorical one. */
export interface DesignColumn {
  feature: NumericFeature | CategoricalFeature;
  level?: string;
}

export function designColumns(enc: Encoding): DesignColumn[] {
  return [...enc.numeric.map((n): DesignColumn => ({ feature: n.feature })), ...enc.categorical.flatMap((c) => c.levels.map((level): DesignColumn => ({ feature: c.feature, level })))];
}

/** The encoding the training cells define. */
export function fitEncoding(cells: readonly CellFeatures[], features: FeatureSelection): Encoding {
  const numeric = features.numeric.map((feature): NumericEncoding => {
    const xs = cells.map((c) => c.numeric[feature]).filter((v): v is number => v !== null && Number.isFinite(v));
    const mean = xs.length ? xs.reduce((a, v) => a + v, 0) / xs.length : 0;
    const ss = xs.reduce((a, v) => a + (v - mean) ** 2, 0);
    const sd = xs.length > 1 ? Math.sqrt(ss / (xs.length - 1)) : 0;
    // A constant feature is centred but not scaled: its column is all zeros and the ridge holds it at 0.
    return { feature, mean, sd: sd > 0 ? sd : 1, present: xs.length };
  });
  const categorical = features.categorical.map((feature): CategoricalEncoding => {
    const counts = new Map<string, number>();
    for (const c of cells) counts.set(c.categorical[feature], (counts.get(c.categorical[feature]) ?? 0) + 1);
    const byName = [...counts.keys()].sort();
    const reference = byName.reduce((best, l) => (counts.get(l)! > counts.get(best)! ? l : best), byName[0] ?? NO_LEVEL);
    return { feature, reference, levels: byName.filter((l) => l !== reference) };
  });
  return { numeric, categorical };
}

/** The standardised value of a numeric feature (0 when missing). */
export function standardised(n: NumericEncoding, value: number | null): number {
  return value === null || !Number.isFinite(value) ? 0 : (value - n.mean) / n.sd;
}

/** The design row of a cell, in designColumns order. */
export function encodeCell(enc: Encoding, cell: CellFeatures): number[] {
  return [
    ...enc.numeric.map((n) => standardised(n, cell.numeric[n.feature])),
    ...enc.categorical.flatMap((c) => c.levels.map((l) => (cell.categorical[c.feature] === l ? 1 : 0))),
  ];
}

/** A fitted model as stored: the encoding and the coefficients of its design columns (standardised scale). */
export interface ScoringModel {
  version: number;
  threshold: number;
  encoding: Encoding;
  intercept: number;
  /** One per design column. */
  coefficients: readonly number[];
}

export interface Contribution {
  feature: NumericFeature | CategoricalFeature;
  /** The cell's value: a number (null when missing) or a level. */
  value: number | string | null;
  /** Its term of the linear predictor: coefficient × standardised value, or the level's coefficient (0 at the reference). */
  contribution: number;
}

export interface CellScore {
  probability: number;
  /** 100 × probability. */
  score: number;
  class: typeof HIGH_RISK | typeof SAFE;
  /** Every feature's contribution, the largest first (ties by feature name). */
  contributions: Contribution[];
}

const sigmoid = (eta: number) => (eta >= 0 ? 1 / (1 + Math.exp(-eta)) : Math.exp(eta) / (1 + Math.exp(eta)));

/** At or above the threshold: a short-term test is recommended. */
export function riskClass(score: number, threshold: number): CellScore['class'] {
  return score >= threshold ? HIGH_RISK : SAFE;
}

/** Scores one cell (deterministic: the same model and cell give the same numbers). */
export function scoreCell(model: ScoringModel, cell: CellFeatures): CellScore {
  const enc = model.encoding;
  const contributions: Contribution[] = [];
  let k = 0;
  for (const n of enc.numeric) {
    const value = cell.numeric[n.feature];
    contributions.push({ feature: n.feature, value, contribution: model.coefficients[k++]! * standardised(n, value) });
  }
  for (const c of enc.categorical) {
    const level = cell.categorical[c.feature];
    let contribution = 0;
    for (const l of c.levels) {
      if (l === level) contribution = model.coefficients[k]!;
      k++;
    }
    contributions.push({ feature: c.feature, value: level, contribution });
  }
  // Summed in the fixed order of the design, so the score never depends on the sort below.
  const eta = contributions.reduce((s, c) => s + c.contribution, model.intercept);
  const probability = sigmoid(eta);
  const score = 100 * probability;
  contributions.sort((a, b) => b.contribution - a.contribution || a.feature.localeCompare(b.feature));
  return { probability, score, class: riskClass(score, model.threshold), contributions };
}

/** The three features that raised the score most, as stored in cell_risk.top_features. */
export function topFeatures(s: CellScore, count = 3): { feature: string; value: number | string | null; contribution: number }[] {
  return s.contributions.slice(0, count).map((c) => ({ feature: c.feature, value: typeof c.value === 'number' ? Number(c.value.toPrecision(6)) : c.value, contribution: Number(c.contribution.toFixed(4)) }));
}
