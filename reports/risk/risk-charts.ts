/**
 * The Cell risk sheet's pictures (Vega-Lite → SVG → PNG, like the other report charts): the day's
 * score histogram with the threshold, and the model's held-out ROC curve with its AUC.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RocPoint } from '../../etl/risk/evaluation.js';
import { renderPng, type Png } from '../charts.js';

const BLUE = '#3b6ea8';
const RED = '#c62828';
const GREY = '#999999';
const CONFIG = { font: 'DejaVu Sans, Arial, Helvetica, sans-serif', background: 'white', view: { stroke: '#dddddd' }, title: { fontSize: 14, anchor: 'start' as const, subtitleFontSize: 11, subtitleColor: '#555555' } };

export interface ScoreBin {
  from: number;
  to: number;
  cells: number;
}

/** Cells per 5-point band of the score, 0–5 … 95–100 (100 in the last), pure. */
export function scoreBins(scores: readonly number[], width = 5): ScoreBin[] {
  const n = Math.ceil(100 / width);
  const bins = Array.from({ length: n }, (_, i) => ({ from: i * width, to: Math.min(100, (i + 1) * width), cells: 0 }));
  for (const s of scores) bins[Math.min(n - 1, Math.max(0, Math.floor(s / width)))]!.cells++;
  return bins;
}

export function scoreHistogramSpec(scores: readonly number[], o: { day: string; threshold: number; version: number }): TopLevelSpec {
  const bins = scoreBins(scores);
  const high = scores.filter((s) => s >= o.threshold).length;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    title: { text: `Risk scores of the cells aged on ${o.day}`, subtitle: `${scores.length} cells, model version ${o.version}; ${high} at or above ${o.threshold} (short-term test recommended); cells on a square-root scale` },
    width: 560,
    height: 200,
    layer: [
      {
        data: { values: bins.filter((b) => b.cells > 0) },
        mark: { type: 'bar', color: BLUE },
        encoding: {
          x: { field: 'from', type: 'quantitative', bin: { binned: true, step: 5 }, title: 'score (100 × P(failure))', scale: { domain: [0, 100] } },
          x2: { field: 'to' },
          y: { field: 'cells', type: 'quantitative', title: 'cells', scale: { type: 'sqrt' } },
        },
      },
      {
        data: { values: bins.filter((b) => b.cells > 0).map((b) => ({ ...b, mid: (b.from + b.to) / 2 })) },
        mark: { type: 'text', dy: -6, fontSize: 9, color: '#333333' },
        encoding: { x: { field: 'mid', type: 'quantitative' }, y: { field: 'cells', type: 'quantitative' }, text: { field: 'cells', type: 'quantitative' } },
      },
      { data: { values: [{ t: o.threshold }] }, mark: { type: 'rule', color: RED, strokeDash: [4, 3], strokeWidth: 1.5 }, encoding: { x: { field: 't', type: 'quantitative' } } },
      { data: { values: [{ t: o.threshold, text: `threshold ${o.threshold}` }] }, mark: { type: 'text', color: RED, align: 'left', dx: 4, dy: -90, fontSize: 10 }, encoding: { x: { field: 't', type: 'quantitative' }, text: { field: 'text' } } },
    ],
  } as TopLevelSpec;
}

export function rocChartSpec(roc: readonly RocPoint[], o: { version: number; auc: number | null; test: { from: string; to: string } }): TopLevelSpec {
  const points = roc.map((p, i) => ({ i, fpr: p.fpr, tpr: p.tpr }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    title: { text: `ROC of model version ${o.version} on the held-out cells`, subtitle: `aged ${o.test.from} … ${o.test.to}; AUC ${o.auc === null ? '–' : o.auc.toFixed(3)}` },
    width: 260,
    height: 260,
    layer: [
      { data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] }, mark: { type: 'line', color: GREY, strokeDash: [3, 3] }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } } },
      {
        data: { values: points },
        mark: { type: 'line', color: BLUE, strokeWidth: 2, interpolate: 'step-after' },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'false positive rate', scale: { domain: [0, 1] } },
          y: { field: 'tpr', type: 'quantitative', title: 'true positive rate', scale: { domain: [0, 1] } },
          order: { field: 'i', type: 'quantitative' },
        },
      },
    ],
  } as TopLevelSpec;
}

export function renderScoreHistogram(scores: readonly number[], o: { day: string; threshold: number; version: number }): Promise<Png> {
  return renderPng(scoreHistogramSpec(scores, o));
}

export function renderRocChart(roc: readonly RocPoint[], o: { version: number; auc: number | null; test: { from: string; to: string } }): Promise<Png> {
  return renderPng(rocChartSpec(roc, o));
}
