/**
 * Gauss–Legendre quadrature: nodes and weights on [−1, 1], and a composite rule over equal panels.
 *
 * The integrands behind d2 and d3 are smooth (polynomials in Φ), so a fixed composite rule is exact
 * to rounding once the panels are narrow compared with the width of the distribution of the range;
 * unlike an adaptive rule it also lets the node values of Φ be computed once and shared by every n.
 */

export interface QuadratureRule {
  /** Nodes in (−1, 1), ascending. */
  nodes: readonly number[];
  weights: readonly number[];
}

/** The m-point rule, from Newton's method on the Legendre polynomial P_m (nodes and weights to ~1e-16). */
export function gaussLegendre(m: number): QuadratureRule {
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`Gauss–Legendre needs a whole number of points ≥ 1, got ${m}`);
  const nodes = new Array<number>(m);
  const weights = new Array<number>(m);
  for (let i = 0; i < Math.ceil(m / 2); i++) {
    // Tricomi's estimate of the i-th root, then Newton.
    let x = Math.cos((Math.PI * (i + 0.75)) / (m + 0.5));
    let derivative = 0;
    for (let iteration = 0; iteration < 100; iteration++) {
      let p0 = 1;
      let p1 = x;
      for (let k = 2; k <= m; k++) {
        const p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      // P_m'(x) = m (x P_m − P_{m−1}) / (x² − 1)
      derivative = (m * (x * p1 - p0)) / (x * x - 1);
      const step = p1 / derivative;
      x -= step;
      if (Math.abs(step) <= 1e-16 * Math.max(1, Math.abs(x))) break;
    }
    const w = 2 / ((1 - x * x) * derivative * derivative);
    nodes[i] = -x;
    nodes[m - 1 - i] = x;
    weights[i] = w;
    weights[m - 1 - i] = w;
  }
  if (m % 2 === 1) nodes[(m - 1) / 2] = 0;
  return { nodes, weights };
}

/** The abscissae and weights of `rule` on each of `panels` equal panels of [a, b], flattened. */
export function compositeNodes(rule: QuadratureRule, a: number, b: number, panels: number): { x: number[]; w: number[] } {
  const h = (b - a) / panels;
  const x: number[] = [];
  const w: number[] = [];
  for (let p = 0; p < panels; p++) {
    const mid = a + (p + 0.5) * h;
    for (let i = 0; i < rule.nodes.length; i++) {
      x.push(mid + (h / 2) * rule.nodes[i]!);
      w.push((h / 2) * rule.weights[i]!);
    }
  }
  return { x, w };
}

/** ∫_a^b f(x) dx by the composite rule. */
export function integrate(f: (x: number) => number, a: number, b: number, panels = 32, rule: QuadratureRule = gaussLegendre(16)): number {
  const { x, w } = compositeNodes(rule, a, b, panels);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += w[i]! * f(x[i]!);
  return sum;
}
