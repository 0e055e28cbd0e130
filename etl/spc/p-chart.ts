/**
 * p-chart with varying sample sizes (spc.md §2): p̄ = Σdᵢ / Σnᵢ, each point pᵢ = dᵢ/nᵢ with
 * σᵢ = √(p̄(1 − p̄)/nᵢ) and limits p̄ ± 3σᵢ clipped to [0, 1]. σᵢ is also the zone unit for the
 * rules at that point.
 */
import { chartPoint, resolveLimits, type ChartOptions, type ControlChart, type Limits } from './chart-points.js';

export interface ProportionSample {
  /** Nonconforming units (FAIL attempts, defects) in the sample. */
  defectives: number;
  /** Units inspected (attempts, units built). */
  n: number;
  time?: string;
  key?: string;
}

/** For a p-chart only p̄ is frozen: σ of one unit follows from it. */
export interface PChartOptions extends Omit<ChartOptions, 'frozen'> {
  frozen?: Pick<Limits, 'cl'>;
}

function checkSamples(samples: readonly ProportionSample[]): void {
  samples.forEach((s, i) => {
    const where = `p-chart sample ${i}${s.key === undefined ? '' : ` ('${s.key}')`}`;
    if (!Number.isInteger(s.n) || s.n < 0) throw new RangeError(`${where}: n must be a whole number ≥ 0, got ${s.n}`);
    if (!Number.isInteger(s.defectives) || s.defectives < 0 || s.defectives > s.n) {
      throw new RangeError(`${where}: defectives must be a whole number from 0 to n = ${s.n}, got ${s.defectives}`);
    }
  });
}

/** √(p̄(1 − p̄)): the σ of one unit, which a point divides by √nᵢ. */
function unitSigma(pBar: number | null): number | null {
  return pBar === null ? null : Math.sqrt(pBar * (1 - pBar));
}

/** p̄ = Σd/Σn, null when nothing was inspected. */
export function pChartLimits(samples: readonly ProportionSample[]): Limits {
  checkSamples(samples);
  let defectives = 0;
  let inspected = 0;
  for (const s of samples) {
    defectives += s.defectives;
    inspected += s.n;
  }
  const pBar = inspected === 0 ? null : defectives / inspected;
  return { cl: pBar, sigmaWithin: unitSigma(pBar) };
}

export function pChart(samples: readonly ProportionSample[], options?: PChartOptions): ControlChart {
  checkSamples(samples);
  if (options?.frozen?.cl != null && !(options.frozen.cl >= 0 && options.frozen.cl <= 1)) {
    throw new RangeError(`frozen p-chart limits: cl (p̄) must be between 0 and 1, got ${options.frozen.cl}`);
  }
  const chartOptions: ChartOptions = {};
  if (options?.frozen !== undefined) chartOptions.frozen = { cl: options.frozen.cl, sigmaWithin: unitSigma(options.frozen.cl) };
  if (options?.baseline !== undefined) chartOptions.baseline = options.baseline;
  const { limits, limitsFrom, phase } = resolveLimits(chartOptions, samples.length, (k) => pChartLimits(samples.slice(0, k)));
  const main = samples.map((s, index) =>
    chartPoint({
      index,
      time: s.time,
      key: s.key,
      n: s.n,
      value: s.n === 0 ? null : s.defectives / s.n,
      cl: s.n === 0 ? null : limits.cl,
      sigma: s.n === 0 || limits.sigmaWithin === null ? null : limits.sigmaWithin / Math.sqrt(s.n),
      floor: 0,
      ceiling: 1,
      phase: phase(index),
    }),
  );
  return { chart: 'p', main, paired: [], limits, limitsFrom };
}
