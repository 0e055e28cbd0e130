/**
 * Process capability (spc.md §4): Cp, Cpk and their one-sided parts from σ̂ within (the chart's
 * estimate), Pp, Ppk and theirs from σ overall (the plain sample SD, n − 1 divisor, no c4: the
 * default of Minitab and qcc). μ is the mean of all the values for both.
 *
 *   Cp = (USL − LSL) / 6σ_within    CPU = (USL − μ) / 3σ_within    CPL = (μ − LSL) / 3σ_within
 *   Cpk = min(CPU, CPL); Pp, PPU, PPL, Ppk the same with σ_overall.
 *
 * A one-sided spec gives only its side (CPU for a USL alone, CPL for an LSL alone) and Cpk is that
 * side, as Minitab reports it; Cp and Pp need both limits. Fewer than 2 values, or a σ of 0, give
 * null: never Infinity.
 */
import { mean, sampleStandardDeviation } from './sample-statistics.js';

export interface SpecLimits {
  lsl?: number | null;
  usl?: number | null;
}

export interface Capability {
  n: number;
  mean: number | null;
  sigmaWithin: number | null;
  sigmaOverall: number | null;
  cp: number | null;
  cpk: number | null;
  cpu: number | null;
  cpl: number | null;
  pp: number | null;
  ppk: number | null;
  ppu: number | null;
  ppl: number | null;
}

interface Indices {
  spread: number | null;
  min: number | null;
  upper: number | null;
  lower: number | null;
}

function indices(mu: number, sigma: number | null, lsl: number | null, usl: number | null): Indices {
  if (sigma === null || sigma === 0) return { spread: null, min: null, upper: null, lower: null };
  const upper = usl === null ? null : (usl - mu) / (3 * sigma);
  const lower = lsl === null ? null : (mu - lsl) / (3 * sigma);
  const spread = usl === null || lsl === null ? null : (usl - lsl) / (6 * sigma);
  const sides = [upper, lower].filter((x): x is number => x !== null);
  return { spread, min: sides.length === 0 ? null : Math.min(...sides), upper, lower };
}

function checkFinite(value: number | null, name: string): void {
  if (value !== null && !Number.isFinite(value)) throw new RangeError(`capability: ${name} must be a finite number, got ${value}`);
}

export function capability(values: readonly number[], sigmaWithin: number | null, spec: SpecLimits): Capability {
  const lsl = spec.lsl ?? null;
  const usl = spec.usl ?? null;
  checkFinite(lsl, 'LSL');
  checkFinite(usl, 'USL');
  checkFinite(sigmaWithin, 'sigmaWithin');
  values.forEach((v, i) => checkFinite(v, `value ${i}`));
  if (lsl !== null && usl !== null && !(lsl < usl)) throw new RangeError(`capability: LSL (${lsl}) must be below USL (${usl})`);
  if (sigmaWithin !== null && sigmaWithin < 0) throw new RangeError(`capability: sigmaWithin must be ≥ 0, got ${sigmaWithin}`);

  const mu = mean(values);
  const sigmaOverall = sampleStandardDeviation(values);
  const enough = mu !== null && values.length >= 2;
  const within = enough ? indices(mu, sigmaWithin, lsl, usl) : indices(0, null, null, null);
  const overall = enough ? indices(mu, sigmaOverall, lsl, usl) : indices(0, null, null, null);
  return {
    n: values.length,
    mean: mu,
    sigmaWithin,
    sigmaOverall,
    cp: within.spread,
    cpk: within.min,
    cpu: within.upper,
    cpl: within.lower,
    pp: overall.spread,
    ppk: overall.min,
    ppu: overall.upper,
    ppl: overall.lower,
  };
}
