/**
 * A judged chart held compactly until its measure is stored: one typed array per column instead of
 * two objects per point. A measure's charts are all kept until its one write transaction, and a
 * chart point as a JavaScript object costs about 200 bytes (boxed numbers, a time string); as
 * columns it costs about 110, for a measure of a million readings the difference between a few
 * hundred megabytes and a gigabyte. Missing numbers (null in the maths) are NaN here.
 */
import type { ChartKind, ControlChart, Limits, Phase } from './spc/chart-points.js';
import type { JudgedKey } from './spc-judge.js';

export interface PointColumns {
  length: number;
  /** Subgroup start, epoch ms. */
  time: Float64Array;
  n: Int32Array;
  value: Float64Array;
  cl: Float64Array;
  ucl: Float64Array;
  lcl: Float64Array;
  sigma: Float64Array;
  pairedValue: Float64Array;
  pairedCl: Float64Array;
  pairedUcl: Float64Array;
  pairedLcl: Float64Array;
  /** 1: Phase I, 2: Phase II. */
  phase: Uint8Array;
}

/** A judged key as the job keeps it until the measure is written. */
export interface ChartedKey extends Omit<JudgedKey, 'chart'> {
  chart: ChartKind;
  limits: Limits;
  points: PointColumns;
}

const f = (v: number | null | undefined) => (v === null || v === undefined ? NaN : v);

/** The number at i, or null. */
export function numberAt(a: Float64Array, i: number): number | null {
  const v = a[i]!;
  return Number.isNaN(v) ? null : v;
}

export function phaseAt(p: PointColumns, i: number): Phase {
  return p.phase[i] === 1 ? 'I' : 'II';
}

export function pointColumns(chart: ControlChart): PointColumns {
  const n = chart.main.length;
  const c: PointColumns = {
    length: n,
    time: new Float64Array(n),
    n: new Int32Array(n),
    value: new Float64Array(n),
    cl: new Float64Array(n),
    ucl: new Float64Array(n),
    lcl: new Float64Array(n),
    sigma: new Float64Array(n),
    pairedValue: new Float64Array(n),
    pairedCl: new Float64Array(n),
    pairedUcl: new Float64Array(n),
    pairedLcl: new Float64Array(n),
    phase: new Uint8Array(n),
  };
  chart.main.forEach((p, i) => {
    const q = chart.paired[i];
    c.time[i] = p.time === undefined ? NaN : Date.parse(p.time);
    c.n[i] = p.n;
    c.value[i] = f(p.value);
    c.cl[i] = f(p.cl);
    c.ucl[i] = f(p.ucl);
    c.lcl[i] = f(p.lcl);
    c.sigma[i] = f(p.sigma);
    c.pairedValue[i] = f(q?.value);
    c.pairedCl[i] = f(q?.cl);
    c.pairedUcl[i] = f(q?.ucl);
    c.pairedLcl[i] = f(q?.lcl);
    c.phase[i] = p.phase === 'I' ? 1 : 2;
  });
  return c;
}

/** Keeps what the store and the alert need of a judged key; its point objects can go. */
export function chartedKey(j: JudgedKey): ChartedKey {
  const { chart, ...rest } = j;
  return { ...rest, chart: chart.chart, limits: chart.limits, points: pointColumns(chart) };
}
