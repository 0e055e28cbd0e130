/**
 * Logistic regression by Newton's method (IRLS) with an optional ridge (L2) penalty, pure: no I/O.
 *
 * The design is given as a dense matrix without the intercept column. Columns flagged `standardise`
 * are centred and scaled by their mean and sample standard deviation, and that standardisation is
 * returned with the model, so the same transform scores new rows. The penalty λ/2 · Σ βⱼ² acts on
 * the standardised coefficients and never on the intercept, so a feature's unit does not decide
 * how much it is shrunk.
 *
 * Standard errors are the square roots of the diagonal of the inverse of the (penalised) Hessian
 * Xᵀ W X + λ I₀ at the optimum, mapped back to the original units by the linear map between the two
 * parameterisations (Cov = A Σ Aᵀ), so with λ = 0 they are the usual Wald standard errors that R's
 * glm(…, family = binomial) prints.
 *
 * Separation: when a combination of features predicts the outcome perfectly, the unpenalised
 * likelihood has no maximum and the coefficients run away. A fit is flagged `separated` when its
 * fitted probabilities reach 0 or 1 within 1e-10 for every row or a coefficient exceeds 1e4 on the
 * standardised scale; an unpenalised fit that separates is refitted with `separationRidge`, so the
 * result is always finite and says what happened.
 */

export interface LogisticOptions {
  /** Ridge penalty λ on the standardised coefficients (intercept not penalised); 0 for plain maximum likelihood. */
  ridge?: number;
  /** Columns to standardise (default all). One-hot indicator columns are usually left as they are. */
  standardise?: readonly boolean[];
  maxIterations?: number;
  /** Converged when the largest change of a standardised coefficient is below this. */
  tolerance?: number;
  /** λ used to refit when an unpenalised fit separates. */
  separationRidge?: number;
}

export interface LogisticModel {
  /** Intercept and coefficients in the original units of the columns. */
  intercept: number;
  coefficients: number[];
  interceptSe: number;
  standardErrors: number[];
  /** The standardisation of each column (mean 0, scale 1 for a column left as it is). */
  centre: number[];
  scale: number[];
  /** Intercept and coefficients on the standardised columns. */
  standardised: { intercept: number; coefficients: number[] };
  ridge: number;
  iterations: number;
  converged: boolean;
  /** The data were (quasi-)separated; with ridge 0 requested, the model is the `separationRidge` refit. */
  separated: boolean;
  /** −2 log-likelihood at the estimate (without the penalty). */
  deviance: number;
  rows: number;
  events: number;
}

const sigmoid = (eta: number) => (eta >= 0 ? 1 / (1 + Math.exp(-eta)) : Math.exp(eta) / (1 + Math.exp(eta)));

/** Cholesky factor L of a symmetric positive-definite matrix (L Lᵀ = A), or null when A is not. */
export function cholesky(a: readonly (readonly number[])[]): number[][] | null {
  const n = a.length;
  const l = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i]![j]!;
      for (let k = 0; k < j; k++) s -= l[i]![k]! * l[j]![k]!;
      if (i === j) {
        if (!(s > 0) || !Number.isFinite(s)) return null;
        l[i]![i] = Math.sqrt(s);
      } else l[i]![j] = s / l[j]![j]!;
    }
  }
  return l;
}

/** Solves L Lᵀ x = b. */
function choleskySolve(l: readonly (readonly number[])[], b: readonly number[]): number[] {
  const n = b.length;
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i]![k]! * y[k]!;
    y[i] = s / l[i]![i]!;
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k]![i]! * x[k]!;
    x[i] = s / l[i]![i]!;
  }
  return x;
}

/** The inverse of a symmetric positive-definite matrix from its Cholesky factor. */
function choleskyInverse(l: readonly (readonly number[])[]): number[][] {
  const n = l.length;
  const cols = Array.from({ length: n }, (_, j) => choleskySolve(l, Array.from({ length: n }, (_, i) => (i === j ? 1 : 0))));
  return Array.from({ length: n }, (_, i) => cols.map((c) => c[i]!));
}

function standardisation(x: readonly (readonly number[])[], p: number, flags: readonly boolean[] | undefined): { centre: number[]; scale: number[] } {
  const n = x.length;
  const centre = new Array<number>(p).fill(0);
  const scale = new Array<number>(p).fill(1);
  for (let j = 0; j < p; j++) {
    if (flags && !flags[j]) continue;
    let m = 0;
    for (let i = 0; i < n; i++) m += x[i]![j]!;
    m /= n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (x[i]![j]! - m) ** 2;
    const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
    // A constant column is centred but not scaled (its coefficient is then held at 0 by the ridge or is unidentified).
    centre[j] = m;
    scale[j] = sd > 0 ? sd : 1;
  }
  return { centre, scale };
}

interface NewtonResult {
  beta: number[];
  hessian: number[][];
  iterations: number;
  converged: boolean;
  separated: boolean;
  deviance: number;
}

function newton(z: readonly (readonly number[])[], y: readonly number[], lambda: number, maxIterations: number, tolerance: number): NewtonResult {
  const n = z.length;
  const q = (z[0]?.length ?? 0) + 1;
  const beta = new Array<number>(q).fill(0);
  // Start at the base rate: the intercept that fits the event share.
  const events = y.reduce((a, v) => a + v, 0);
  const share = Math.min(1 - 1e-6, Math.max(1e-6, events / Math.max(1, n)));
  beta[0] = Math.log(share / (1 - share));
  const row = (i: number, k: number) => (k === 0 ? 1 : z[i]![k - 1]!);
  const penalisedLoss = (b: readonly number[]) => {
    let nll = 0;
    for (let i = 0; i < n; i++) {
      let eta = 0;
      for (let k = 0; k < q; k++) eta += b[k]! * row(i, k);
      // log(1 + e^η) − yη, stable for large |η|
      nll += (eta > 0 ? eta + Math.log1p(Math.exp(-eta)) : Math.log1p(Math.exp(eta))) - y[i]! * eta;
    }
    let pen = 0;
    for (let k = 1; k < q; k++) pen += b[k]! ** 2;
    return { nll, total: nll + (lambda / 2) * pen };
  };
  let hessian: number[][] = [];
  let converged = false;
  let iterations = 0;
  let separated = false;
  let current = penalisedLoss(beta);
  for (; iterations < maxIterations; ) {
    iterations++;
    const g = new Array<number>(q).fill(0);
    const h = Array.from({ length: q }, () => new Array<number>(q).fill(0));
    let extreme = 0;
    for (let i = 0; i < n; i++) {
      let eta = 0;
      for (let k = 0; k < q; k++) eta += beta[k]! * row(i, k);
      const p = sigmoid(eta);
      if (p < 1e-10 || p > 1 - 1e-10) extreme++;
      const w = p * (1 - p);
      const r = y[i]! - p;
      for (let a = 0; a < q; a++) {
        const xa = row(i, a);
        g[a] = g[a]! + xa * r;
        for (let b = 0; b <= a; b++) h[a]![b] = h[a]![b]! + w * xa * row(i, b);
      }
    }
    for (let a = 0; a < q; a++) for (let b = 0; b < a; b++) h[b]![a] = h[a]![b]!;
    for (let k = 1; k < q; k++) {
      g[k] = g[k]! - lambda * beta[k]!;
      h[k]![k] = h[k]![k]! + lambda;
    }
    hessian = h;
    if (extreme === n && n > 0) separated = true;
    // A tiny jitter keeps a singular Hessian (a constant or duplicated column without ridge) solvable.
    let l = cholesky(h);
    if (!l) {
      const jittered = h.map((r, i) => r.map((v, j) => (i === j ? v + 1e-8 * (1 + Math.abs(v)) : v)));
      l = cholesky(jittered);
      if (!l) throw new Error('logistic regression: the information matrix is not positive definite (a feature without variation, or collinear features)');
    }
    const step = choleskySolve(l, g);
    // Step halving: never accept a step that makes the penalised loss worse.
    let t = 1;
    let next = beta.map((b, k) => b + step[k]!);
    let loss = penalisedLoss(next);
    while (loss.total > current.total + 1e-12 * Math.max(1, Math.abs(current.total)) && t > 1e-6) {
      t /= 2;
      next = beta.map((b, k) => b + t * step[k]!);
      loss = penalisedLoss(next);
    }
    const change = Math.max(...next.map((b, k) => Math.abs(b - beta[k]!)));
    for (let k = 0; k < q; k++) beta[k] = next[k]!;
    current = loss;
    if (beta.some((b, k) => k > 0 && Math.abs(b) > 1e4)) {
      separated = true;
      break;
    }
    if (change < tolerance) {
      converged = true;
      break;
    }
  }
  // The Hessian at the final estimate, for the standard errors.
  const h = Array.from({ length: q }, () => new Array<number>(q).fill(0));
  for (let i = 0; i < n; i++) {
    let eta = 0;
    for (let k = 0; k < q; k++) eta += beta[k]! * row(i, k);
    const p = sigmoid(eta);
    const w = p * (1 - p);
    for (let a = 0; a < q; a++) for (let b = 0; b <= a; b++) h[a]![b] = h[a]![b]! + w * row(i, a) * row(i, b);
  }
  for (let a = 0; a < q; a++) for (let b = 0; b < a; b++) h[b]![a] = h[a]![b]!;
  for (let k = 1; k < q; k++) h[k]![k] = h[k]![k]! + lambda;
  hessian = h;
  // Without a penalty, a fit that keeps moving until the iteration limit is running away along a
  // separating direction: the maximum is at infinity.
  if (!converged && lambda === 0) separated = true;
  return { beta, hessian, iterations, converged, separated, deviance: 2 * current.nll };
}

/**
 * Fits P(y = 1 | x) = 1 / (1 + exp(−(β₀ + Σ βⱼ xⱼ))). `x` has one row per observation and no
 * intercept column; `y` holds 0 or 1.
 */
export function fitLogistic(x: readonly (readonly number[])[], y: readonly number[], opts: LogisticOptions = {}): LogisticModel {
  const n = x.length;
  if (n === 0) throw new Error('logistic regression: no rows to fit');
  if (y.length !== n) throw new Error(`logistic regression: ${n} rows but ${y.length} outcomes`);
  const p = x[0]!.length;
  for (const [i, r] of x.entries()) {
    if (r.length !== p) throw new Error(`logistic regression: row ${i} has ${r.length} values, expected ${p}`);
    if (r.some((v) => !Number.isFinite(v))) throw new Error(`logistic regression: row ${i} has a value that is not a finite number`);
  }
  if (y.some((v) => v !== 0 && v !== 1)) throw new Error('logistic regression: outcomes must be 0 or 1');
  const events = y.reduce((a, v) => a + v, 0);
  if (events === 0 || events === n) throw new Error(`logistic regression: every outcome is ${events === 0 ? 0 : 1}; both classes are needed`);
  const ridge = opts.ridge ?? 0;
  if (!(ridge >= 0) || !Number.isFinite(ridge)) throw new Error('logistic regression: ridge must be a finite number >= 0');
  const { centre, scale } = standardisation(x, p, opts.standardise);
  const z = x.map((r) => r.map((v, j) => (v - centre[j]!) / scale[j]!));
  const maxIterations = opts.maxIterations ?? 100;
  const tolerance = opts.tolerance ?? 1e-10;
  let fit = newton(z, y, ridge, maxIterations, tolerance);
  let used = ridge;
  const separated = fit.separated;
  if (separated && ridge === 0) {
    used = opts.separationRidge ?? 1;
    fit = newton(z, y, used, maxIterations, tolerance);
  }
  const inv = choleskyInverse(cholesky(fit.hessian) ?? cholesky(fit.hessian.map((r, i) => r.map((v, j) => (i === j ? v + 1e-8 : v))))!);
  // Original units: βⱼ = bⱼ / sⱼ, β₀ = b₀ − Σ bⱼ mⱼ / sⱼ; A maps (b₀, b) to (β₀, β).
  const q = p + 1;
  const a = Array.from({ length: q }, () => new Array<number>(q).fill(0));
  a[0]![0] = 1;
  for (let j = 1; j < q; j++) {
    a[0]![j] = -centre[j - 1]! / scale[j - 1]!;
    a[j]![j] = 1 / scale[j - 1]!;
  }
  const original = a.map((r) => r.reduce((s, v, k) => s + v * fit.beta[k]!, 0));
  const variance = (i: number) => {
    let s = 0;
    for (let k = 0; k < q; k++) for (let m = 0; m < q; m++) s += a[i]![k]! * inv[k]![m]! * a[i]![m]!;
    return Math.sqrt(Math.max(0, s));
  };
  return {
    intercept: original[0]!,
    coefficients: original.slice(1),
    interceptSe: variance(0),
    standardErrors: Array.from({ length: p }, (_, j) => variance(j + 1)),
    centre,
    scale,
    standardised: { intercept: fit.beta[0]!, coefficients: fit.beta.slice(1) },
    ridge: used,
    iterations: fit.iterations,
    converged: fit.converged,
    separated,
    deviance: fit.deviance,
    rows: n,
    events,
  };
}

/** The linear predictor β₀ + Σ βⱼ xⱼ of one row. */
export function linearPredictor(m: Pick<LogisticModel, 'intercept' | 'coefficients'>, x: readonly number[]): number {
  let eta = m.intercept;
  for (let j = 0; j < m.coefficients.length; j++) eta += m.coefficients[j]! * x[j]!;
  return eta;
}

/** P(y = 1) of one row. */
export function predictProbability(m: Pick<LogisticModel, 'intercept' | 'coefficients'>, x: readonly number[]): number {
  return sigmoid(linearPredictor(m, x));
}
