/**
 * How well risk scores separate failed from good cells on held-out data, pure: ROC AUC as the
 * Mann–Whitney statistic (ties count one half), the ROC curve, precision and recall at a
 * threshold, and calibration by decile of the predicted probability.
 */

export interface RocPoint {
  /** Scores at or above this are called positive. */
  threshold: number;
  fpr: number;
  tpr: number;
}

export interface CalibrationBin {
  decile: number;
  cells: number;
  meanPredicted: number;
  observedRate: number;
  minScore: number;
  maxScore: number;
}

export interface Evaluation {
  cells: number;
  events: number;
  /** null when one class is missing. */
  auc: number | null;
  /** Of the cells at or above the threshold, the share that failed; null when none is. */
  precision: number | null;
  /** Of the failed cells, the share at or above the threshold; null without failures. */
  recall: number | null;
  flagged: number;
  truePositives: number;
  calibration: CalibrationBin[];
  roc: RocPoint[];
}

/**
 * AUC = (R₁ − n₁(n₁ + 1)/2) / (n₁ n₀), R₁ the sum of the mid-ranks of the positives: the share of
 * (failed, good) pairs in which the failed cell scores higher, a tie counting one half.
 */
export function rocAuc(scores: readonly number[], labels: readonly number[]): number | null {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSum = 0;
  let positives = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[order[k]!] === 1) {
      rankSum += midRank;
      positives++;
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return null;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** The ROC curve: one point per distinct score, from the highest down, starting at (0, 0). */
export function rocCurve(scores: readonly number[], labels: readonly number[]): RocPoint[] {
  const positives = labels.filter((l) => l === 1).length;
  const negatives = labels.length - positives;
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const points: RocPoint[] = [{ threshold: Number.POSITIVE_INFINITY, fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; ) {
    const s = scores[order[i]!]!;
    while (i < order.length && scores[order[i]!] === s) {
      if (labels[order[i]!] === 1) tp++;
      else fp++;
      i++;
    }
    points.push({ threshold: s, fpr: negatives ? fp / negatives : 0, tpr: positives ? tp / positives : 0 });
  }
  return points;
}

/** At most `max` points of a curve, evenly spaced along it, first and last kept (for storage and charts). */
export function thinCurve(points: readonly RocPoint[], max: number): RocPoint[] {
  if (points.length <= max) return [...points];
  const out: RocPoint[] = [];
  for (let k = 0; k < max; k++) out.push(points[Math.round((k * (points.length - 1)) / (max - 1))]!);
  return out;
}

/** Ten groups of (nearly) equal size by ascending predicted probability; ties stay in order of input. */
export function calibrationByDecile(probabilities: readonly number[], labels: readonly number[], scoreOf: (p: number) => number = (p) => 100 * p): CalibrationBin[] {
  const n = probabilities.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => probabilities[a]! - probabilities[b]! || a - b);
  const bins: CalibrationBin[] = [];
  for (let d = 0; d < 10; d++) {
    const lo = Math.floor((d * n) / 10);
    const hi = Math.floor(((d + 1) * n) / 10);
    if (hi <= lo) continue;
    let sp = 0;
    let sy = 0;
    for (let k = lo; k < hi; k++) {
      sp += probabilities[order[k]!]!;
      sy += labels[order[k]!]!;
    }
    const cells = hi - lo;
    bins.push({ decile: d + 1, cells, meanPredicted: sp / cells, observedRate: sy / cells, minScore: scoreOf(probabilities[order[lo]!]!), maxScore: scoreOf(probabilities[order[hi - 1]!]!) });
  }
  return bins;
}

/** Everything above for scores 0–100 (`scores`), their probabilities, the outcomes and the threshold. */
export function evaluate(scores: readonly number[], probabilities: readonly number[], labels: readonly number[], threshold: number): Evaluation {
  const events = labels.filter((l) => l === 1).length;
  let flagged = 0;
  let tp = 0;
  scores.forEach((s, i) => {
    if (s >= threshold) {
      flagged++;
      if (labels[i] === 1) tp++;
    }
  });
  return {
    cells: scores.length,
    events,
    auc: rocAuc(scores, labels),
    precision: flagged ? tp / flagged : null,
    recall: events ? tp / events : null,
    flagged,
    truePositives: tp,
    calibration: calibrationByDecile(probabilities, labels),
    roc: rocCurve(scores, labels),
  };
}
