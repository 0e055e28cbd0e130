/**
 * Report charts as PNG without a browser: a Vega-Lite spec (pure, built here from the report data)
 * is compiled to Vega, rendered to SVG by Vega's headless view, and rasterised by resvg.
 * Sizes are chosen for an email body about 640 px wide; the PNG has twice the pixels so it stays
 * sharp on high-density screens and when zoomed in Excel.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';
import { ALL_PRODUCTS, type Pareto, type TrendPoint } from './daily-yield-data.js';

export interface Png {
  buffer: Buffer;
  /** Size to display at, in CSS pixels (the PNG itself has `scale` times as many). */
  width: number;
  height: number;
}

/** Fonts that resvg finds on a plain Linux host (DejaVu) and on desktops. */
const FONT = 'DejaVu Sans, Arial, Helvetica, sans-serif';
const BLUE = '#3b6ea8';
const RED = '#c62828';
const ORANGE = '#e07b00';

const BASE_CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: '#dddddd' },
  axis: { labelFontSize: 11, titleFontSize: 11, gridColor: '#eeeeee' },
  title: { fontSize: 14, anchor: 'start' as const, subtitleFontSize: 11, subtitleColor: '#555555' },
};

const pct = (v: number) => `${Number.isInteger(Math.round(v * 1000) / 10) ? (100 * v).toFixed(0) : (100 * v).toFixed(1)} %`;

/** A y-range that shows the spread of the yields and the target, in 5-point steps, ending at 100 %. */
export function yieldDomain(values: readonly number[], target: number): [number, number] {
  const lo = Math.min(target, ...values);
  return [Math.max(0, Math.floor((lo - 0.01) * 20) / 20), 1];
}

/**
 * Daily first-pass yield over the last 30 days: one small panel per product (all products first),
 * the target as a dashed red line, the report's day as a larger dot.
 */
export function trendChartSpec(points: readonly TrendPoint[], o: { day: string; target: number; width?: number }): TopLevelSpec {
  const values = points.filter((p) => p.value !== null).map((p) => ({ ...p, isDay: p.day === o.day }));
  const products = [...new Set(points.map((p) => p.product))];
  const order = [ALL_PRODUCTS, ...products.filter((p) => p !== ALL_PRODUCTS)].filter((p) => products.includes(p));
  const columns = Math.min(3, Math.max(1, order.length));
  const width = o.width ?? 640;
  const panel = Math.floor((width - 40 - columns * 50) / columns);
  const [lo, hi] = yieldDomain(values.map((v) => v.value!), o.target);
  const x = { field: 'day', type: 'temporal' as const, timeUnit: 'utcyearmonthdate' as const, title: null, axis: { format: '%d.%m', labelAngle: 0, tickCount: 4, labelFontSize: 9 } };
  const y = { field: 'value', type: 'quantitative' as const, title: null, scale: { domain: [lo, hi], clamp: true }, axis: { format: '.0%', tickCount: 4, labelFontSize: 9 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: BASE_CONFIG,
    title: {
      text: 'First-pass yield, last 30 days',
      subtitle: `rolled per product; dashed red: target ${pct(o.target)}; large dot: ${o.day}`,
    },
    data: { values },
    columns,
    facet: {
      field: 'product',
      type: 'nominal',
      sort: order,
      header: { title: null, labelFontSize: 11, labelFontWeight: 'bold', labelPadding: 4 },
    },
    spec: {
      width: panel,
      height: 80,
      layer: [
        { mark: { type: 'line', color: BLUE, strokeWidth: 1.5 }, encoding: { x, y } },
        {
          mark: { type: 'circle', color: BLUE },
          encoding: {
            x,
            y,
            size: { condition: { test: 'datum.isDay', value: 60 }, value: 12 },
            color: { condition: { test: 'datum.isDay', value: RED }, value: BLUE },
          },
        },
        { mark: { type: 'rule', color: RED, strokeDash: [4, 3], strokeWidth: 1.2 }, encoding: { y: { datum: o.target, type: 'quantitative' } } },
      ],
    },
  } as TopLevelSpec;
}

/**
 * First-pass failures by station, most first (bars), with their running share of the day's total
 * (line, right axis) and the 80 % line of the Pareto rule.
 */
export function paretoChartSpec(p: Pareto, o: { day: string; width?: number }): TopLevelSpec {
  const order = p.bars.map((b) => b.machine);
  const x = { field: 'machine', type: 'nominal' as const, sort: order, title: null, axis: { labelAngle: -40, labelFontSize: 10 } };
  const shown = p.bars.length < p.stationsWithFailures ? ` (${p.bars.length} with most shown)` : '';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: BASE_CONFIG,
    title: {
      text: `First-pass failures by station, ${o.day}`,
      // Short lines: Vega estimates text widths without a canvas (generously), and a long line widens the image.
      subtitle: [`${p.totalFailures} failed first attempts at ${p.stationsWithFailures} stations${shown}`, 'line: cumulative share; dashed: 80 %'],
    },
    width: (o.width ?? 640) - 150,
    height: 200,
    data: { values: p.bars },
    layer: [
      {
        mark: { type: 'bar', color: BLUE },
        encoding: { x, y: { field: 'failures', type: 'quantitative', title: 'first-pass failures', axis: { tickMinStep: 1, format: 'd' } } },
      },
      {
        layer: [
          {
            mark: { type: 'line', color: ORANGE, point: { color: ORANGE } },
            encoding: {
              x,
              y: { field: 'cumulativeShare', type: 'quantitative', title: 'cumulative share', scale: { domain: [0, 1] }, axis: { orient: 'right', format: '.0%' } },
            },
          },
          { mark: { type: 'rule', color: RED, strokeDash: [4, 3] }, encoding: { y: { datum: 0.8, type: 'quantitative' } } },
        ],
      },
    ],
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

/** The SVG that Vega's headless view draws for a Vega-Lite spec. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Renders a Vega-Lite spec to a PNG with `scale` × the pixels of its layout size. */
export async function renderPng(spec: TopLevelSpec, scale = 2): Promise<Png> {
  return rasterise(await renderSvg(spec), scale);
}

/** An SVG as a PNG with `scale` × the pixels of its size, through resvg (also the process maps' path). */
export function rasterise(svg: string, scale = 2): Png {
  const img = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  }).render();
  return { buffer: img.asPng(), width: Math.round(img.width / scale), height: Math.round(img.height / scale) };
}
