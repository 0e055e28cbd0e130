/**
 * The process map of one product and day: the directly-follows graph of its cases, as Graphviz
 * draws it (compiled to WebAssembly, @viz-js/viz: no browser, no native binary), rasterised by the
 * report charts' resvg path. Edges carry their case counts and median waits; a retest loop is drawn
 * as a loop on its step; the bottleneck step is filled and says so.
 */
import { instance, type Viz } from '@viz-js/viz';
import type { FlowEdgeRow, FlowStepRow } from '../../etl/flow/flow-rows.js';
import { START, END } from '../../sql/flow-query.js';
import { rasterise, type Png } from '../charts.js';

const FONT = 'DejaVu Sans';
const RED = '#c62828';
const ORANGE = '#e07b00';
const BLUE = '#3b6ea8';

/** A DOT string literal. */
const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Seconds for a person: 45 s, 12.5 min, 3.2 h. */
export function duration(s: number | null): string {
  if (s === null) return '–';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** The map as DOT (pure): `edges` and `steps` of one product and day. */
export function processMapDot(product: string, day: string, edges: readonly FlowEdgeRow[], steps: readonly FlowStepRow[]): string {
  const cases = edges.filter((e) => e.from_step === START).reduce((a, e) => a + e.cases, 0);
  const most = Math.max(1, ...edges.map((e) => e.cases));
  const lines = [
    'digraph flow {',
    `  graph [rankdir=LR, fontname=${q(FONT)}, fontsize=12, labelloc=t, labeljust=l, nodesep=0.35, ranksep=0.5, pad=0.2, ` +
      `label=${q(`${product}, ${day}: ${cases} cases. Edges: cases, median wait. Red loop: retests. Orange: bottleneck.`)}];`,
    `  node [shape=box, style="rounded,filled", fillcolor="#eef3fa", color=${q(BLUE)}, fontname=${q(FONT)}, fontsize=11];`,
    `  edge [fontname=${q(FONT)}, fontsize=9, color="#555555"];`,
    `  ${q(START)} [shape=circle, label="", width=0.2, fillcolor="#333333", color="#333333"];`,
    `  ${q(END)} [shape=doublecircle, label="", width=0.15, fillcolor="#333333", color="#333333"];`,
  ];
  for (const s of steps) {
    const bottleneck = s.bottleneck_rank === 1;
    const label = [
      s.step,
      `${s.cases} cases, ${s.events} events`,
      `rework ${s.rework_rate === null ? '–' : `${(100 * s.rework_rate).toFixed(1)} %`}`,
      ...(bottleneck ? [`BOTTLENECK: waits ${duration(s.median_wait_in_s)}`] : []),
    ].join('\\n');
    const style = bottleneck ? `, fillcolor="#fde3c4", color=${q(ORANGE)}, penwidth=2.5` : '';
    lines.push(`  ${q(s.step)} [label="${label.replace(/"/g, '\\"')}"${style}];`);
  }
  for (const e of edges) {
    const width = (1 + (4 * e.cases) / most).toFixed(2);
    const pseudo = e.from_step === START || e.to_step === END;
    const label = e.is_rework ? `${e.transitions} retests\\n${e.cases} cases` : pseudo ? `${e.cases}` : `${e.cases} cases\\n${duration(e.median_wait_s)}`;
    const style = e.is_rework ? `, color=${q(RED)}, fontcolor=${q(RED)}, dir=forward` : pseudo ? ', style=dashed, color="#999999"' : '';
    lines.push(`  ${q(e.from_step)} -> ${q(e.to_step)} [label="${label}", penwidth=${width}${style}];`);
  }
  lines.push('}');
  return lines.join('\n');
}

let viz: Promise<Viz> | undefined;

/** Renders the map to a PNG (Graphviz dot layout → SVG → resvg). */
export async function renderProcessMap(product: string, day: string, edges: readonly FlowEdgeRow[], steps: readonly FlowStepRow[]): Promise<Png> {
  viz ??= instance();
  const svg = (await viz).renderString(processMapDot(product, day, edges, steps), { format: 'svg', engine: 'dot' });
  return rasterise(svg, 2);
}
