/**
 * The logistic regression and its evaluation on a published data set with known results: the 23
 * Space Shuttle launches before Challenger, launch temperature (°F) and whether any O-ring had
 * thermal distress (Dalal, Fowlkes & Hoadley 1989, JASA 84(408); binary form as in Agresti,
 * "Categorical Data Analysis"). Rows checked against the public challenger.csv of
 * people.hsc.edu/faculty-staff/blins/classes/spring17/math222 (temp, damaged, undamaged; incident =
 * damaged > 0), reference values against R's `glm(Fail > 0 ~ Temp, family = binomial)` output as
 * printed at byui-kctolli.netlify.app/math325/analyses/examples/challengerlogisticreg:
 * intercept 15.0429 (SE 7.3786), Temp −0.2322 (SE 0.1082).
 */
import { describe, expect, it } from 'vitest';
import { fitLogistic, predictProbability } from '../../../etl/risk/logistic.js';
import { calibrationByDecile, evaluate, rocAuc, rocCurve } from '../../../etl/risk/evaluation.js';

const CHALLENGER: [number, 0 | 1][] = [
  [53, 1], [57, 1], [58, 1], [63, 1], [66, 0], [67, 0], [67, 0], [67, 0], [68, 0], [69, 0], [70, 1], [70, 0],
  [70, 1], [70, 0], [72, 0], [73, 0], [75, 0], [75, 1], [76, 0], [76, 0], [78, 0], [79, 0], [81, 0],
];
const temps = CHALLENGER.map(([t]) => [t]);
const incidents = CHALLENGER.map(([, y]) => y);

/** AUC by counting every (incident, no-incident) pair: 1 when the incident's score is higher, ½ on a tie. */
function aucByPairs(scores: number[], labels: number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    for (let j = 0; j < scores.length; j++) {
      if (labels[i] !== 1 || labels[j] !== 0) continue;
      pairs++;
      wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe('logistic regression on the Challenger O-ring data', () => {
  const m = fitLogistic(temps, incidents);

  it('has 23 launches with 7 incidents', () => {
    expect(CHALLENGER).toHaveLength(23);
    expect(incidents.filter((y) => y === 1)).toHaveLength(7);
  });

  it("gives R's glm coefficients and standard errors", () => {
    expect(m.converged).toBe(true);
    expect(m.separated).toBe(false);
    expect(m.intercept).toBeCloseTo(15.0429, 3);
    expect(m.coefficients[0]).toBeCloseTo(-0.2322, 4);
    expect(m.interceptSe).toBeCloseTo(7.3786, 3);
    expect(m.standardErrors[0]).toBeCloseTo(0.1082, 4);
    // Residual deviance 20.315 on 21 degrees of freedom (glm's summary).
    expect(m.deviance).toBeCloseTo(20.315, 2);
  });

  it('gives the same model whether or not the temperature is standardised', () => {
    const raw = fitLogistic(temps, incidents, { standardise: [false] });
    expect(raw.intercept).toBeCloseTo(m.intercept, 6);
    expect(raw.coefficients[0]).toBeCloseTo(m.coefficients[0]!, 8);
    expect(raw.standardErrors[0]).toBeCloseTo(m.standardErrors[0]!, 8);
  });

  it('has the AUC of counting pairs: a colder launch scores higher', () => {
    const p = temps.map((x) => predictProbability(m, x));
    // The fitted probability falls with temperature, so the AUC is that of −temperature: count the pairs.
    // 7 × 16 = 112 pairs; an incident at 53, 57, 58, 63 beats every no-incident launch (4 × 16 = 64);
    // each incident at 70 (two of them) beats the 8 warmer no-incident launches (72 … 81), ties the two
    // no-incident launches at 70 (½ each) and loses to the 6 colder ones: 2 × (8 + 1) = 18; the
    // incident at 75 beats the 5 warmer ones and ties the other 75: 5½. (64 + 18 + 5.5) / 112 = 87.5 / 112.
    expect(aucByPairs(p, incidents)).toBeCloseTo(87.5 / 112, 12);
    expect(rocAuc(p, incidents)).toBeCloseTo(87.5 / 112, 12);
  });

  it('predicts about 0.9996 at 31 °F, the Challenger launch', () => {
    // 1 / (1 + exp(−(15.0429 − 0.2322 · 31))) = 0.9996 (the textbook figure, from the rounded coefficients).
    expect(predictProbability(m, [31])).toBeCloseTo(1 / (1 + Math.exp(-(15.0429 - 0.2322 * 31))), 3);
  });
});

describe('ridge', () => {
  it('shrinks the slope towards 0 but never the intercept to the overall rate', () => {
    const plain = fitLogistic(temps, incidents);
    const ridged = fitLogistic(temps, incidents, { ridge: 5 });
    expect(Math.abs(ridged.coefficients[0]!)).toBeLessThan(Math.abs(plain.coefficients[0]!));
    expect(ridged.coefficients[0]!).toBeLessThan(0);
    // With an enormous penalty the slope vanishes and the intercept is the log-odds of the base rate 7/23.
    const flat = fitLogistic(temps, incidents, { ridge: 1e9 });
    expect(Math.abs(flat.standardised.coefficients[0]!)).toBeLessThan(1e-6);
    expect(flat.standardised.intercept).toBeCloseTo(Math.log(7 / 16), 6);
  });

  it('standard errors come from the penalised Hessian: smaller with a penalty', () => {
    expect(fitLogistic(temps, incidents, { ridge: 5 }).standardErrors[0]!).toBeLessThan(fitLogistic(temps, incidents).standardErrors[0]!);
  });
});

describe('separation', () => {
  it('is detected and refitted with a ridge, so the coefficients stay finite', () => {
    const x = [[1], [2], [3], [4], [5], [6]];
    const y = [0, 0, 0, 1, 1, 1];
    const m = fitLogistic(x, y);
    expect(m.separated).toBe(true);
    expect(m.ridge).toBe(1);
    expect(Number.isFinite(m.coefficients[0]!)).toBe(true);
    expect(m.coefficients[0]!).toBeGreaterThan(0);
  });

  it('is not an issue with a ridge asked for', () => {
    const m = fitLogistic([[1], [2], [3], [4]], [0, 0, 1, 1], { ridge: 0.5 });
    expect(m.converged).toBe(true);
    expect(m.ridge).toBe(0.5);
  });

  it('refuses data with one class only, and rows that are not numbers', () => {
    expect(() => fitLogistic([[1], [2]], [0, 0])).toThrow(/both classes/);
    expect(() => fitLogistic([[1], [Number.NaN]], [0, 1])).toThrow(/row 1/);
  });
});

describe('evaluation', () => {
  it('counts ties one half in the AUC and draws the ROC from the highest score down', () => {
    // scores 3,2,2,1 with labels 1,1,0,0: pairs (3>2) (3>1) (2=2: ½) (2>1) → 3.5 / 4.
    expect(rocAuc([3, 2, 2, 1], [1, 1, 0, 0])).toBe(3.5 / 4);
    expect(rocCurve([3, 2, 2, 1], [1, 1, 0, 0]).map((p) => [p.fpr, p.tpr])).toEqual([[0, 0], [0, 0.5], [0.5, 1], [1, 1]]);
  });

  it('gives precision and recall at the threshold, and calibration by decile', () => {
    const scores = [90, 80, 76, 70, 40, 10, 5, 5, 2, 1];
    const labels = [1, 0, 1, 1, 0, 0, 0, 1, 0, 0];
    const e = evaluate(scores, scores.map((s) => s / 100), labels, 75);
    // Flagged ≥ 75: 90, 80, 76 → 2 of 3 failed; recall 2 of the 4 failures.
    expect(e.precision).toBeCloseTo(2 / 3, 12);
    expect(e.recall).toBe(0.5);
    const bins = calibrationByDecile(scores.map((s) => s / 100), labels);
    expect(bins).toHaveLength(10);
    expect(bins[0]).toMatchObject({ cells: 1, meanPredicted: 0.01, observedRate: 0 });
    expect(bins[9]).toMatchObject({ cells: 1, meanPredicted: 0.9, observedRate: 1 });
  });
});
