/**
 * The OC and AOQ curves of a sampling plan as one picture (Vega-Lite → SVG → PNG, like the other
 * report charts): Pa(p) by the binomial (the process) and by the hypergeometric (a lot of N), with
 * the AQL and the LTPD marked and their Pa labelled; beside it AOQ(p) with its maximum, the AOQL.
 */
import type { TopLevelSpec } from 'vega-lite';
import { aoql, binomialPa, curvePoints, fractionAtPa } from '../../etl/sampling/oc.js';
import { renderPng, type Png } from '../charts.js';

export interface CurvePlan {
  label: string;
  n: number;
  c: number;
  /** The lot size the hypergeometric curve and AOQ are drawn for. */
  lotSize: number;
  /** Percent, when the plan has them. */
  aql: number | null;
  ltpd: number | null;
}

const BLUE = '#3b6ea8';
const ORANGE = '#e07b00';
const RED = '#c62828';
const GREEN = '#2e7d32';

export function ocChartSpec(plan: CurvePlan): TopLevelSpec {
  const p = { n: plan.n, c: plan.c };
  const points = curvePoints(p, plan.lotSize);
  const ltpd = plan.ltpd !== null ? plan.ltpd / 100 : fractionAtPa(p, 0.1);
  const marks = [
    ...(plan.aql !== null ? [{ p: plan.aql / 100, pa: binomialPa(p.n, p.c, plan.aql / 100), what: `AQL ${plan.aql} %` }] : []),
    { p: ltpd, pa: binomialPa(p.n, p.c, ltpd), what: plan.ltpd !== null ? `LTPD ${plan.ltpd} %` : 'LTPD (Pa 0.10)' },
  ].map((m) => ({ ...m, text: `${m.what}: Pa ${m.pa.toFixed(3)}` }));
  const curves = points.flatMap((pt) => [
    { p: pt.p, pa: pt.paProcess, curve: 'process (binomial)' },
    { p: pt.p, pa: pt.paLot, curve: `lot of ${plan.lotSize} (hypergeometric)` },
  ]);
  const worst = aoql(p, plan.lotSize);
  const x = { field: 'p', type: 'quantitative' as const, title: 'fraction nonconforming p', axis: { format: '.1%' } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: { font: 'DejaVu Sans, Arial, Helvetica, sans-serif', background: 'white', view: { stroke: '#dddddd' }, title: { fontSize: 14, anchor: 'start', subtitleFontSize: 11, subtitleColor: '#555555' } },
    title: { text: `OC and AOQ: ${plan.label}`, subtitle: `n ${plan.n}, Ac ${plan.c}, Re ${plan.c + 1}; AOQL ${(100 * worst.aoql).toFixed(2)} % at p ${(100 * worst.atP).toFixed(2)} %` },
    hconcat: [
      {
        width: 300,
        height: 200,
        layer: [
          {
            data: { values: curves },
            mark: { type: 'line', strokeWidth: 1.8 },
            encoding: {
              x,
              y: { field: 'pa', type: 'quantitative', title: 'probability of acceptance Pa', scale: { domain: [0, 1] } },
              color: { field: 'curve', type: 'nominal', title: null, scale: { range: [ORANGE, BLUE] }, legend: { orient: 'bottom', direction: 'vertical', labelFontSize: 10, labelLimit: 320 } },
            },
          },
          { data: { values: marks }, mark: { type: 'rule', color: RED, strokeDash: [3, 3] }, encoding: { x: { field: 'p', type: 'quantitative' } } },
          { data: { values: marks }, mark: { type: 'point', color: RED, filled: true, size: 40 }, encoding: { x: { field: 'p', type: 'quantitative' }, y: { field: 'pa', type: 'quantitative' } } },
          { data: { values: marks }, mark: { type: 'text', align: 'left', dx: 5, dy: -8, fontSize: 10, color: RED }, encoding: { x: { field: 'p', type: 'quantitative' }, y: { field: 'pa', type: 'quantitative' }, text: { field: 'text' } } },
        ],
      },
      {
        width: 220,
        height: 200,
        layer: [
          { data: { values: points }, mark: { type: 'line', color: GREEN, strokeWidth: 1.8 }, encoding: { x, y: { field: 'aoq', type: 'quantitative', title: 'AOQ (rejected lots screened)', axis: { format: '.1%' } } } },
          { data: { values: [{ aoql: worst.aoql }] }, mark: { type: 'rule', color: RED, strokeDash: [3, 3] }, encoding: { y: { field: 'aoql', type: 'quantitative' } } },
          {
            data: { values: [{ aoql: worst.aoql, text: `AOQL ${(100 * worst.aoql).toFixed(2)} %` }] },
            mark: { type: 'text', align: 'right', dy: -6, fontSize: 10, color: RED, x: 220 },
            encoding: { y: { field: 'aoql', type: 'quantitative' }, text: { field: 'text' } },
          },
        ],
      },
    ],
  } as TopLevelSpec;
}

export function renderOcChart(plan: CurvePlan): Promise<Png> {
  return renderPng(ocChartSpec(plan));
}
