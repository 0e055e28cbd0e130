/**
 * Control chart constants for subgroup size n, computed rather than copied from a printed table
 * (spc.md §2): printed tables are rounded to 3 or 4 digits, and derived factors in them were
 * often computed from already-rounded d2 and d3, so they disagree in the last digit.
 *
 * - d2(n) = E[R] and d3(n) = SD[R] for the range R of n iid standard normals, by quadrature of
 *     E[R]  = ∫ 1 − Φ(x)ⁿ − (1 − Φ(x))ⁿ dx
 *     E[R²] = 2 ∬_{x<y} P(min < x, max > y) dx dy
 *           = 2 ∬_{x<y} 1 − Φ(y)ⁿ − (1 − Φ(x))ⁿ + (Φ(y) − Φ(x))ⁿ dx dy
 *   (the second because (max − min)² = 2 ∬_{x<y} 1{min < x}·1{max > y} dx dy).
 * - c4(n) = E[s]/σ = √(2/(n − 1)) · Γ(n/2) / Γ((n − 1)/2), through ln Γ.
 * - A2 = 3/(d2√n), A3 = 3/(c4√n), D3 = max(0, 1 − 3d3/d2), D4 = 1 + 3d3/d2,
 *   B3 = max(0, 1 − 3√(1 − c4²)/c4), B4 = 1 + 3√(1 − c4²)/c4.
 *
 * Everything is memoised per n: the nightly job asks for the same few sizes thousands of times.
 */
import { compositeNodes, gaussLegendre } from './gauss-legendre.js';
import { logGamma } from './log-gamma.js';
import { normalCdf, normalUpperTail } from './normal-distribution.js';

/**
 * Both integrals are truncated to [−LIMIT, LIMIT]: the integrands are bounded by n·(1 − Φ(|x|)),
 * and 1 − Φ(10) ≈ 7.6e-24, so the truncation error is below 1e-17 for any n up to 10⁶.
 */
const LIMIT = 10;
/**
 * Panels of width 0.25 with a 12-point rule: the integrands vary on the scale of the SD of the
 * sample maximum (still ≈ 0.2 at n = 10⁶), so the rule converges to rounding: d2 to ~1e-15 and
 * d3 to ~1e-13 relative for n ≤ 1000 (the tests check against mpmath), d3 to ~1e-9 at n = 10⁶.
 * The node grid, and Φ at its nodes, is shared by all n.
 */
const PANELS_PER_UNIT = 4;
const RULE = gaussLegendre(12);

/** Φ and 1 − Φ at a node, both kept because each is accurate only in its own tail. */
interface NodeValues {
  x: number;
  w: number;
  cdf: number;
  upper: number;
}

function nodeValues(x: number, w: number): NodeValues {
  return { x, w, cdf: normalCdf(x), upper: normalUpperTail(x) };
}

interface RangeGrid {
  /** Nodes on [0, LIMIT] for the one-dimensional integral of E[R] (symmetric integrand). */
  half: NodeValues[];
  /** Nodes on [−LIMIT, LIMIT], grouped by panel, for the off-diagonal cells of E[R²]. */
  panels: NodeValues[][];
  /**
   * For each diagonal cell [a, b]² (the triangle x < y inside it), the outer y nodes and, for each
   * of them, the inner x nodes on [a, y].
   */
  diagonal: { y: NodeValues; inner: NodeValues[] }[][];
}

let grid: RangeGrid | undefined;

function rangeGrid(): RangeGrid {
  if (grid) return grid;
  const halfNodes = compositeNodes(RULE, 0, LIMIT, LIMIT * PANELS_PER_UNIT);
  const half = halfNodes.x.map((x, i) => nodeValues(x, halfNodes.w[i]!));
  const panelCount = 2 * LIMIT * PANELS_PER_UNIT;
  const h = (2 * LIMIT) / panelCount;
  const panels: NodeValues[][] = [];
  const diagonal: { y: NodeValues; inner: NodeValues[] }[][] = [];
  for (let p = 0; p < panelCount; p++) {
    const a = -LIMIT + p * h;
    const outer = compositeNodes(RULE, a, a + h, 1);
    panels.push(outer.x.map((x, i) => nodeValues(x, outer.w[i]!)));
    diagonal.push(
      outer.x.map((y, i) => {
        const inner = compositeNodes(RULE, a, y, 1);
        return { y: nodeValues(y, outer.w[i]!), inner: inner.x.map((x, k) => nodeValues(x, inner.w[k]!)) };
      }),
    );
  }
  grid = { half, panels, diagonal };
  return grid;
}

/** 1 − (1 − q)ⁿ without cancellation when q is tiny. */
function oneMinusComplementPower(q: number, n: number): number {
  return -Math.expm1(n * Math.log1p(-q));
}

/** P(max of n > y) = 1 − Φ(y)ⁿ, accurate in both tails. */
function maxExceeds(y: NodeValues, n: number): number {
  return y.x > 0 ? oneMinusComplementPower(y.upper, n) : 1 - y.cdf ** n;
}

/** Φ(y) − Φ(x) for x < y, from whichever tail values keep precision. */
function probabilityBetween(x: NodeValues, y: NodeValues): number {
  if (x.x >= 0) return x.upper - y.upper;
  if (y.x <= 0) return y.cdf - x.cdf;
  return 1 - x.cdf - y.upper;
}

/**
 * P(min < x, max > y) for x < y, given P(max > y) and P(min ≥ x) = (1 − Φ(x))ⁿ, which the caller
 * computes once per node rather than once per pair.
 */
function straddles(x: NodeValues, y: NodeValues, n: number, maxExceedsY: number, minAtLeastX: number): number {
  return maxExceedsY - minAtLeastX + probabilityBetween(x, y) ** n;
}

function checkSize(n: number, smallest: number): void {
  if (!Number.isInteger(n) || n < smallest) {
    throw new RangeError(`control chart constants need a whole subgroup size n ≥ ${smallest}, got ${n}`);
  }
}

function memoise(compute: (n: number) => number, smallest: number): (n: number) => number {
  const cache = new Map<number, number>();
  return (n: number): number => {
    let value = cache.get(n);
    if (value === undefined) {
      checkSize(n, smallest);
      value = compute(n);
      cache.set(n, value);
    }
    return value;
  };
}

/** d2(n) = E[range of n standard normals]. */
export const d2 = memoise((n) => {
  // The integrand is even in x, so integrate over [0, LIMIT] and double; on x ≥ 0 the upper tail
  // 1 − Φ(x) is the accurate quantity.
  let sum = 0;
  for (const node of rangeGrid().half) sum += node.w * (oneMinusComplementPower(node.upper, n) - node.upper ** n);
  return 2 * sum;
}, 2);

/**
 * Neumaier's compensated sum: E[R²] adds up ~10⁵ terms and d3² = E[R²] − d2² then loses about a
 * decimal digit per factor of E[R²]/d3², so plain summation would leave d3 good to only ~1e-13.
 */
class CompensatedSum {
  private sum = 0;
  private compensation = 0;
  add(term: number): void {
    const t = this.sum + term;
    this.compensation += Math.abs(this.sum) >= Math.abs(term) ? this.sum - t + term : term - t + this.sum;
    this.sum = t;
  }
  get value(): number {
    return this.sum + this.compensation;
  }
}

/** E[R²] for the range of n standard normals. */
function rangeSecondMoment(n: number): number {
  const { panels, diagonal } = rangeGrid();
  const maxExceedsAt = panels.map((panel) => panel.map((y) => maxExceeds(y, n)));
  const minAtLeastAt = panels.map((panel) => panel.map((x) => x.upper ** n));
  const sum = new CompensatedSum();
  for (let i = 0; i < panels.length; i++) {
    const xs = panels[i]!;
    for (let k = 0; k < xs.length; k++) {
      const x = xs[k]!;
      const minAtLeastX = minAtLeastAt[i]![k]!;
      for (let j = i + 1; j < panels.length; j++) {
        const ys = panels[j]!;
        const maxExceedsY = maxExceedsAt[j]!;
        let column = 0;
        for (let l = 0; l < ys.length; l++) column += ys[l]!.w * straddles(x, ys[l]!, n, maxExceedsY[l]!, minAtLeastX);
        sum.add(x.w * column);
      }
    }
    const cell = diagonal[i]!;
    for (let l = 0; l < cell.length; l++) {
      const { y, inner } = cell[l]!;
      const maxExceedsY = maxExceedsAt[i]![l]!;
      let row = 0;
      for (const x of inner) row += x.w * straddles(x, y, n, maxExceedsY, x.upper ** n);
      sum.add(y.w * row);
    }
  }
  return 2 * sum.value;
}

/** d3(n) = SD[range of n standard normals]. */
export const d3 = memoise((n) => Math.sqrt(rangeSecondMoment(n) - d2(n) ** 2), 2);

/**
 * Above this n, ln Γ(n/2) − ln Γ((n − 1)/2) comes from Stirling's series rather than from two
 * Lanczos values of size n ln n whose difference loses the digits 1 − c4² (the S chart's σ)
 * depends on: at n = 50 Lanczos leaves c4 good to ~2e-14 and 1 − c4² to ~3e-12, the series to 1e-16.
 */
const STIRLING_FROM = 20;

/**
 * Stirling's correction S(z) in ln Γ(z) = (z − ½) ln z − z + ½ ln 2π + S(z):
 * Σ B₂ₖ / (2k(2k − 1) z^(2k−1)) for k = 1..8; the first omitted term is below 2e-18 for z ≥ 10.
 */
const STIRLING_COEFFICIENTS = [1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156, -3617 / 122400] as const;

function stirlingCorrection(z: number): number {
  const z2 = z * z;
  let sum = 0;
  for (let k = STIRLING_COEFFICIENTS.length - 1; k >= 0; k--) sum = sum / z2 + STIRLING_COEFFICIENTS[k]!;
  return sum / z;
}

/**
 * ln c4(n). With a = (n − 1)/2, c4 = Γ(a + ½) / (Γ(a)·√a). For large n the difference of two ln Γ
 * of size n ln n would lose the digits that 1 − c4² (the S chart's σ) depends on, so there
 * ln c4 = a·ln(1 + 1/(2a)) − ½ + S(a + ½) − S(a), the first part summed as the series
 * Σ_{k≥1} (−1)ᵏ uᵏ / (2(k + 1)) with u = 1/(2a) to avoid the cancellation against ½.
 */
function logC4(n: number): number {
  const a = (n - 1) / 2;
  if (n <= STIRLING_FROM) return logGamma(a + 0.5) - logGamma(a) - 0.5 * Math.log(a);
  const u = 1 / (2 * a);
  let series = 0;
  let power = 1;
  for (let k = 1; k <= 12; k++) {
    power *= -u;
    series += power / (2 * (k + 1));
  }
  return series + (stirlingCorrection(a + 0.5) - stirlingCorrection(a));
}

/** c4(n) = E[s]/σ for the sample SD s (n − 1 divisor) of n normals. */
export const c4 = memoise((n) => Math.exp(logC4(n)), 2);

/** 1 − c4(n)², without the cancellation of subtracting c4² from 1 at large n: Var[s]/σ². */
export const oneMinusC4Squared = memoise((n) => -Math.expm1(2 * logC4(n)), 2);

export const A2 = memoise((n) => 3 / (d2(n) * Math.sqrt(n)), 2);
export const A3 = memoise((n) => 3 / (c4(n) * Math.sqrt(n)), 2);
export const D3 = memoise((n) => Math.max(0, 1 - (3 * d3(n)) / d2(n)), 2);
export const D4 = memoise((n) => 1 + (3 * d3(n)) / d2(n), 2);
export const B3 = memoise((n) => Math.max(0, 1 - (3 * Math.sqrt(oneMinusC4Squared(n))) / c4(n)), 2);
export const B4 = memoise((n) => 1 + (3 * Math.sqrt(oneMinusC4Squared(n))) / c4(n), 2);

export interface ChartConstants {
  n: number;
  d2: number;
  d3: number;
  c4: number;
  A2: number;
  A3: number;
  D3: number;
  D4: number;
  B3: number;
  B4: number;
}

/** All constants for one subgroup size, e.g. for a report's footnote or a table in the docs. */
export function chartConstants(n: number): ChartConstants {
  return { n, d2: d2(n), d3: d3(n), c4: c4(n), A2: A2(n), A3: A3(n), D3: D3(n), D4: D4(n), B3: B3(n), B4: B4(n) };
}
