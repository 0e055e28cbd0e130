/**
 * A control chart as a PNG (spc.md §2–§3), drawn with the reports' Vega-Lite renderer
 * (reports/charts.ts): the points, CL, UCL and LCL (as steps where the limits vary from point to
 * point, as on a p-chart), the 1σ and 2σ zones the Nelson rules count in, the spec limits, and the
 * flagged points in red with the numbers of the rules they break. I-MR, X̄-R and X̄-S charts get
 * their MR, R or S chart as a second panel, with its CL, UCL, its LCL where that is above zero
 * (R for n ≥ 7, S for n ≥ 6), and its own flagged points (rule 1, judged there too).
 *
 * The spec is a pure function of the data, so tests can check what is drawn without pixels.
 */
import { DateTime } from 'luxon';
import type { TopLevelSpec } from 'vega-lite';
import { renderPng, type Png } from './charts.js';
import type { ChartKind, ControlChart, Phase } from '../etl/spc/chart-points.js';
import type { StoredPoint, StoredViolation } from '../etl/spc-store.js';
import type { Panel } from '../etl/spc-judge.js';

export interface SpcChartPoint {
  time: Date;
  value: number | null;
  cl: number | null;
  ucl: number | null;
  lcl: number | null;
  /** σ of the plotted statistic at the point: the zones are CL ± 1σ and ± 2σ. */
  sigma: number | null;
  paired?: { value: number | null; cl: number | null; ucl: number | null; lcl: number | null } | null;
  phase: Phase;
}

export interface SpcChartData {
  /** The measure's title (or name). */
  title: string;
  key: string;
  chart: ChartKind;
  unit: string | null;
  points: readonly SpcChartPoint[];
  /** Flagged points: the time of the point, the rule it breaks and its panel (default main). */
  violations: readonly ViolationMark[];
  spec: { lsl: number | null; usl: number | null; target: number | null };
  /** Where the limits come from, for the subtitle. */
  limitsNote?: string | null;
}

export interface ViolationMark {
  time: Date;
  rule: number;
  panel?: Panel;
}

export interface SpcChartOptions {
  /** Plant zone: the time axis shows plant wall-clock time. */
  timezone: string;
  /** Layout width in CSS pixels (the PNG has twice as many). */
  width?: number;
}

const FONT = 'DejaVu Sans, Arial, Helvetica, sans-serif';
const BLUE = '#3b6ea8';
const RED = '#c62828';
const ORANGE = '#e07b00';
const GREEN = '#2e7d32';
const GREY = '#444444';

const ONE = { values: [{}] };

/** Beyond this many points, only flagged points get a dot. */
const DENSE_POINTS = 150;

/** The statistic of a chart's second panel (none for a p-chart). */
export const PAIRED_STATISTIC: Record<ChartKind, string | null> = { 'I-MR': 'MR', 'Xbar-R': 'R', 'Xbar-S': 'S', p: null };
const MAIN_NAME: Record<ChartKind, string> = { 'I-MR': 'Individual values', 'Xbar-R': 'Subgroup means (X̄)', 'Xbar-S': 'Subgroup means (X̄)', p: 'Proportion defective (p)' };

/** The chart's points from the maths' output (the job's in-memory result). */
export function chartPointsOf(chart: ControlChart): SpcChartPoint[] {
  return chart.main.map((p, i) => {
    const q = chart.paired[i];
    return {
      time: new Date(p.time!),
      value: p.value,
      cl: p.cl,
      ucl: p.ucl,
      lcl: p.lcl,
      sigma: p.sigma,
      paired: q ? { value: q.value, cl: q.cl, ucl: q.ucl, lcl: q.lcl } : null,
      phase: p.phase,
    };
  });
}

/** The chart's points from spc_points rows (etl/spc-store.ts readStoredSeries). */
export function chartPointsFromStored(points: readonly StoredPoint[]): SpcChartPoint[] {
  return points.map((p) => ({
    time: p.time,
    value: p.value,
    cl: p.cl,
    ucl: p.ucl,
    lcl: p.lcl,
    sigma: p.sigma,
    paired: p.chart === 'p' ? null : { value: p.pairedValue, cl: p.pairedCl, ucl: p.pairedUcl, lcl: p.pairedLcl },
    phase: p.phase,
  }));
}

export function violationMarksFromStored(violations: readonly StoredViolation[]): ViolationMark[] {
  return violations.map((v) => ({ time: v.pointTime, rule: v.rule, panel: v.panel }));
}

/** An instant as plant wall-clock time, written as if it were UTC: Vega then draws it on a UTC scale unchanged. */
function wallClock(t: Date, timezone: string): string {
  return DateTime.fromJSDate(t).setZone(timezone).toFormat("yyyy-LL-dd'T'HH:mm:ss.SSS'Z'");
}

const clip = (v: number | null, lo: number | null, hi: number | null) => {
  if (v === null) return null;
  let x = v;
  if (lo !== null) x = Math.max(x, lo);
  if (hi !== null) x = Math.min(x, hi);
  return x;
};

/** A y-range showing the values, the limits and the spec limits, with a margin. */
function domainOf(values: readonly (number | null | undefined)[]): [number, number] {
  const xs = values.filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));
  if (xs.length === 0) return [0, 1];
  let lo = Math.min(...xs);
  let hi = Math.max(...xs);
  if (hi === lo) {
    const pad = Math.abs(hi) * 0.05 || 1;
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.06;
  lo -= pad;
  hi += pad;
  return [lo, hi];
}

/** Labels a flagged point with its rules, unless the point before had the same ones (a long run gets one label). */
function labels(points: readonly SpcChartPoint[], violations: readonly ViolationMark[]): Map<number, string> {
  const rulesAt = new Map<number, number[]>();
  for (const v of violations) {
    const t = v.time.getTime();
    rulesAt.set(t, [...(rulesAt.get(t) ?? []), v.rule]);
  }
  const out = new Map<number, string>();
  let previous = '';
  for (const p of points) {
    const rules = [...new Set(rulesAt.get(p.time.getTime()) ?? [])].sort((a, b) => a - b).join(',');
    if (rules && rules !== previous) out.set(p.time.getTime(), rules);
    previous = rules;
  }
  return out;
}

export function spcChartSpec(data: SpcChartData, opts: SpcChartOptions): TopLevelSpec {
  const onMain = data.violations.filter((v) => (v.panel ?? 'main') === 'main');
  const onPaired = data.violations.filter((v) => v.panel === 'paired');
  const flagged = new Set(onMain.map((v) => v.time.getTime()));
  const label = labels(data.points, onMain);
  const pairedFlagged = new Set(onPaired.map((v) => v.time.getTime()));
  const pairedLabel = labels(data.points, onPaired);
  const values = data.points.map((p) => {
    const z = (k: number) => (p.cl === null || p.sigma === null ? null : clip(p.cl + k * p.sigma, p.lcl, p.ucl));
    return {
      t: wallClock(p.time, opts.timezone),
      value: p.value,
      cl: p.cl,
      ucl: p.ucl,
      lcl: p.lcl,
      p1: z(1),
      m1: z(-1),
      p2: z(2),
      m2: z(-2),
      flagged: flagged.has(p.time.getTime()),
      label: label.get(p.time.getTime()) ?? null,
      phase: p.phase,
      pv: p.paired?.value ?? null,
      pcl: p.paired?.cl ?? null,
      pucl: p.paired?.ucl ?? null,
      plcl: p.paired?.lcl ?? null,
      pflagged: pairedFlagged.has(p.time.getTime()),
      plabel: pairedLabel.get(p.time.getTime()) ?? null,
    };
  });
  const width = (opts.width ?? 640) - 90;
  const dense = values.length > DENSE_POINTS;
  const { lsl, usl, target } = data.spec;
  const [lo, hi] = domainOf([...values.flatMap((v) => [v.value, v.ucl, v.lcl]), lsl, usl, target]);
  const x = { field: 't', type: 'temporal' as const, scale: { type: 'utc' as const }, title: null, axis: { format: '%d.%m', labelAngle: 0, tickCount: 8, labelFontSize: 10 } };
  const y = (field: string) => ({ field, type: 'quantitative' as const, scale: { domain: [lo, hi], zero: false }, title: data.chart === 'p' ? null : (data.unit ?? null), axis: { tickCount: 6, labelFontSize: 10, ...(data.chart === 'p' ? { format: '.1%' } : {}) } });
  // Limits and zones are drawn from the points where they change (all of them on a p-chart, two on
  // an I-MR chart with frozen limits), as steps: the image stays small and quick to rasterise.
  const changes = (fields: readonly (keyof (typeof values)[number])[]) =>
    values.filter((v, i) => i === 0 || i === values.length - 1 || fields.some((f) => v[f] !== values[i - 1]![f]));
  const limitRows = { values: changes(['cl', 'ucl', 'lcl', 'p1', 'm1', 'p2', 'm2']) };
  const pairedRows = { values: changes(['pcl', 'pucl', 'plcl']) };
  const band = (low: string, high: string, color: string) => ({
    data: limitRows,
    mark: { type: 'area' as const, color, opacity: 1, interpolate: 'step-after' as const, clip: true },
    encoding: { x, y: y(low), y2: { field: high } },
  });
  const limitLine = (field: string, color: string, dash?: number[]) => ({
    data: limitRows,
    mark: { type: 'line' as const, color, strokeWidth: 1.2, interpolate: 'step-after' as const, clip: true, ...(dash ? { strokeDash: dash } : {}) },
    encoding: { x, y: y(field) },
  });
  const specRule = (value: number | null, text: string, color: string, dash: number[]) =>
    value === null
      ? []
      : [
          // One datum: without data of their own these would draw once per point of the chart.
          { data: ONE, mark: { type: 'rule' as const, color, strokeWidth: 1.4, strokeDash: dash }, encoding: { y: { datum: value, type: 'quantitative' as const, scale: { domain: [lo, hi] } } } },
          {
            data: ONE,
            mark: { type: 'text' as const, color, align: 'right' as const, baseline: 'bottom' as const, dx: -2, dy: -1, fontSize: 10, x: 'width' as const },
            encoding: { y: { datum: value, type: 'quantitative' as const, scale: { domain: [lo, hi] } }, text: { value: `${text} ${value}` } },
          },
        ];
  // Where Phase II starts (the first point judged by limits set before it), when the window shows both.
  const firstPhaseTwo = values.findIndex((v) => v.phase === 'II');
  const phaseStart = firstPhaseTwo > 0 && values.slice(0, firstPhaseTwo).some((v) => v.phase === 'I') ? firstPhaseTwo : -1;
  const shown = values.map((v, i) => ({ ...v, phaseStart: i === phaseStart }));
  const atPhaseStart = [{ filter: 'datum.phaseStart' }];
  const phaseMark =
    phaseStart < 0
      ? []
      : [
          { transform: atPhaseStart, mark: { type: 'rule' as const, color: GREY, strokeDash: [2, 3], strokeWidth: 1 }, encoding: { x } },
          {
            transform: atPhaseStart,
            mark: { type: 'text' as const, color: GREY, align: 'left' as const, baseline: 'top' as const, dx: 3, y: 2, fontSize: 9 },
            encoding: { x, text: { value: 'Phase II →' } },
          },
        ];
  /**
   * A panel's points: a dot each (with many points, only where flagged: the line shows the rest and
   * the image stays quick to rasterise), red where flagged, labelled with the rules broken.
   */
  const pointLayers = (yEnc: object, o: { flag: string; label: string; size: [number, number]; dy: number }) => [
    {
      ...(dense ? { transform: [{ filter: `datum.${o.flag}` }] } : {}),
      mark: { type: 'circle' as const, clip: true, opacity: 1 },
      encoding: {
        x,
        y: yEnc,
        color: { condition: { test: `datum.${o.flag}`, value: RED }, value: BLUE },
        size: { condition: { test: `datum.${o.flag}`, value: o.size[0] }, value: o.size[1] },
      },
    },
    {
      transform: [{ filter: `datum.${o.label} != null` }],
      mark: { type: 'text' as const, color: RED, dy: o.dy, fontSize: 9, fontWeight: 'bold' as const },
      encoding: { x, y: yEnc, text: { field: o.label } },
    },
  ];
  const main = {
    width,
    height: 220,
    layer: [
      band('lcl', 'ucl', '#fbe3e1'),
      band('m2', 'p2', '#fff4d6'),
      band('m1', 'p1', '#e6f2e6'),
      limitLine('cl', GREY),
      limitLine('ucl', RED, [5, 3]),
      limitLine('lcl', RED, [5, 3]),
      ...specRule(lsl, 'LSL', ORANGE, [1, 0]),
      ...specRule(usl, 'USL', ORANGE, [1, 0]),
      ...specRule(target, 'target', GREEN, [2, 2]),
      ...phaseMark,
      { mark: { type: 'line' as const, color: BLUE, strokeWidth: 1, clip: true }, encoding: { x, y: y('value') } },
      ...pointLayers(y('value'), { flag: 'flagged', label: 'label', size: [30, 10], dy: -9 }),
    ],
  };
  const pairedName = PAIRED_STATISTIC[data.chart];
  const panels: object[] = [main];
  if (pairedName) {
    const [plo, phi] = domainOf(values.flatMap((v) => [v.pv, v.pucl, v.plcl]));
    const py = (field: string) => ({ field, type: 'quantitative' as const, scale: { domain: [Math.max(0, plo), phi], zero: false }, title: pairedName, axis: { tickCount: 3, labelFontSize: 10 } });
    const pairedLimit = (field: string, color: string, dash?: number[]) => ({
      data: pairedRows,
      mark: { type: 'line' as const, color, strokeWidth: 1, interpolate: 'step-after' as const, clip: true, ...(dash ? { strokeDash: dash } : {}) },
      encoding: { x, y: py(field) },
    });
    // An LCL of 0 (R for n ≤ 6, S for n ≤ 5, MR always) is the axis itself; drawn only where it is a limit.
    const lclAboveZero = values.some((v) => v.plcl !== null && v.plcl > 0);
    panels.push({
      width,
      height: 80,
      layer: [
        pairedLimit('pcl', GREY),
        pairedLimit('pucl', RED, [5, 3]),
        ...(lclAboveZero ? [pairedLimit('plcl', RED, [5, 3])] : []),
        { mark: { type: 'line' as const, color: BLUE, strokeWidth: 1, clip: true }, encoding: { x, y: py('pv') } },
        ...pointLayers(py('pv'), { flag: 'pflagged', label: 'plabel', size: [24, 6], dy: -7 }),
      ],
    });
  }
  const flaggedCount = values.filter((v) => v.flagged || v.pflagged).length;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: {
      font: FONT,
      background: 'white',
      view: { stroke: '#dddddd' },
      axis: { labelFontSize: 10, titleFontSize: 11, gridColor: '#eeeeee' },
      title: { fontSize: 14, anchor: 'start', subtitleFontSize: 11, subtitleColor: '#555555' },
    },
    title: {
      text: `${data.title} · ${data.key}`,
      // Short lines: Vega estimates text widths without a canvas, generously, and a long line widens the image.
      subtitle: [
        `${MAIN_NAME[data.chart]}${pairedName ? ` and ${pairedName}` : ''}, ${data.points.length} points`,
        ...(data.limitsNote ? wrap(`limits ${data.limitsNote}`, SUBTITLE_CHARS) : []),
        `dashed red: UCL / LCL; bands: 1σ and 2σ zones${lsl !== null || usl !== null ? '; orange: spec limits' : ''}`,
        `${flaggedCount} flagged point(s) in red, labelled with the rules they break`,
      ],
    },
    data: { values: shown },
    vconcat: panels,
    spacing: 6,
  } as unknown as TopLevelSpec;
}

/** Characters per subtitle line that stay inside the 640 px chart at 11 px. */
const SUBTITLE_CHARS = 80;

/** Splits text at spaces into lines of at most `width` characters (a longer word stands alone). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** The chart as a PNG (2× pixels) for an email or a workbook. */
export async function renderSpcChart(data: SpcChartData, opts: SpcChartOptions): Promise<Png> {
  return renderPng(spcChartSpec(data, opts));
}
