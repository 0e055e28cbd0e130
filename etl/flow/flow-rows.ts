/**
 * The process-flow tables' rows from the statement's aggregates (process-flow.md §2–§6), pure:
 * rates, the bottleneck ranking, variant shares and ranks, and conformance against each route.
 */
import type { FlowFineRow } from '../../sql/flow-query.js';
import { START, END } from '../../sql/flow-query.js';
import type { Period } from '../periods.js';
import { judgeVariant, variantSteps } from './conformance.js';
import type { Shift } from './shifts.js';

interface Grain {
  product: string;
  period_type: 'day' | 'week';
  period_start: string;
  period_label: string;
}

export interface FlowEdgeRow extends Grain {
  from_step: string;
  to_step: string;
  transitions: number;
  cases: number;
  median_wait_s: number | null;
  p90_wait_s: number | null;
  is_rework: boolean;
}

export interface FlowStepRow extends Grain {
  step: string;
  cases: number;
  events: number;
  rework_events: number;
  rework_rate: number | null;
  median_processing_s: number | null;
  median_wait_in_s: number | null;
  bottleneck_rank: number | null;
}

export interface FlowVariantRow extends Grain {
  variant: string;
  cases: number;
  share: number | null;
  rank: number;
  median_lead_time_s: number | null;
}

export interface FlowConformanceRow extends Grain {
  cases: number;
  conforming_cases: number;
  fitness: number | null;
  skipped_step_cases: number;
  extra_step_cases: number;
  out_of_order_cases: number;
  route: string | null;
  route_source: 'config' | 'discovered' | null;
}

export interface FlowShiftRow extends Grain {
  step: string;
  shift: string;
  weekday: number | null;
  attempts: number;
  units_tested: number;
  first_pass_units: number;
  first_pass_yield: number | null;
  waits: number;
  median_wait_in_s: number | null;
}

/** A machine of a route step and how many of the units it released jumped over the route's next step. */
export interface FlowSkipRow extends Grain {
  from_step: string;
  skipped_step: string;
  machine: string;
  transitions_out: number;
  skipping_transitions: number;
  skip_share: number | null;
}

export interface FlowRows {
  skips: FlowSkipRow[];
  edges: FlowEdgeRow[];
  steps: FlowStepRow[];
  variants: FlowVariantRow[];
  conformance: FlowConformanceRow[];
  shifts: FlowShiftRow[];
}

export interface Route {
  steps: string[];
  source: 'config' | 'discovered';
}

const int = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));
/** Seconds rounded to the microsecond: the database may add a median's two terms in either order, and a rerun must give identical rows. */
const seconds = (v: unknown) => (v === null || v === undefined ? null : Math.round(Number(v) * 1e6) / 1e6);
const ratio = (n: number, d: number) => (d === 0 ? null : n / d);

function grain(p: Period, product: string): Grain {
  return { product, period_type: p.type, period_start: p.start, period_label: p.label };
}

/** Bottleneck ranks: 1 for the largest median wait into the step among steps with at least minCases cases; ties by step name. */
export function rankBottlenecks(steps: FlowStepRow[], minCases: number): void {
  const groups = new Map<string, FlowStepRow[]>();
  for (const s of steps) {
    const k = `${s.period_type}|${s.period_start}|${s.product}`;
    groups.set(k, [...(groups.get(k) ?? []), s]);
  }
  for (const group of groups.values()) {
    const ranked = group
      .filter((s) => s.cases >= minCases && s.median_wait_in_s !== null)
      .sort((a, b) => b.median_wait_in_s! - a.median_wait_in_s! || a.step.localeCompare(b.step));
    ranked.forEach((s, i) => (s.bottleneck_rank = i + 1));
  }
}

/** Variant ranks (most cases first, ties by variant text) and shares of the product's cases. */
function rankVariants(variants: FlowVariantRow[]): void {
  const groups = new Map<string, FlowVariantRow[]>();
  for (const v of variants) {
    const k = `${v.period_type}|${v.period_start}|${v.product}`;
    groups.set(k, [...(groups.get(k) ?? []), v]);
  }
  for (const group of groups.values()) {
    const total = group.reduce((a, v) => a + v.cases, 0);
    group.sort((a, b) => b.cases - a.cases || (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0));
    group.forEach((v, i) => {
      v.rank = i + 1;
      v.share = ratio(v.cases, total);
    });
  }
}

/** Conformance per product and period against its route (none: every count but cases is 0 and the rates NULL). */
export function conformanceOf(variants: readonly FlowVariantRow[], routeOf: (product: string) => Route | undefined): FlowConformanceRow[] {
  const rows = new Map<string, FlowConformanceRow>();
  for (const v of variants) {
    const k = `${v.period_type}|${v.period_start}|${v.product}`;
    const route = routeOf(v.product);
    let row = rows.get(k);
    if (!row) {
      row = {
        product: v.product,
        period_type: v.period_type,
        period_start: v.period_start,
        period_label: v.period_label,
        cases: 0,
        conforming_cases: 0,
        fitness: null,
        skipped_step_cases: 0,
        extra_step_cases: 0,
        out_of_order_cases: 0,
        route: route ? route.steps.join('>') : null,
        route_source: route?.source ?? null,
      };
      rows.set(k, row);
    }
    row.cases += v.cases;
    if (!route) continue;
    const verdict = judgeVariant(variantSteps(v.variant), route.steps);
    if (verdict.conforming) row.conforming_cases += v.cases;
    if (verdict.skipped) row.skipped_step_cases += v.cases;
    if (verdict.extra) row.extra_step_cases += v.cases;
    if (verdict.outOfOrder) row.out_of_order_cases += v.cases;
  }
  for (const row of rows.values()) row.fitness = row.route ? ratio(row.conforming_cases, row.cases) : null;
  return [...rows.values()];
}

/** The rank-1 variant of each product in the rows (most cases, ties by variant text). */
export function discoveredRoutes(fine: readonly FlowFineRow[]): Map<string, string[]> {
  const best = new Map<string, { variant: string; cases: number }>();
  for (const r of fine) {
    if (r.part !== 'V') continue;
    const cases = int(r.v1);
    const b = best.get(r.product);
    if (!b || cases > b.cases || (cases === b.cases && r.a < b.variant)) best.set(r.product, { variant: r.a, cases });
  }
  return new Map([...best].map(([p, b]) => [p, variantSteps(b.variant)]));
}

/**
 * Per route step and machine: the transitions out of the step on that machine, and those that go
 * to a later route step than the next one (jumping over it). Steps whose next route step is the
 * last have nothing to jump over and no rows.
 */
export function skipsOf(handoffs: readonly FlowFineRow[], periods: readonly Period[], routeOf: (product: string) => Route | undefined): FlowSkipRow[] {
  const rows = new Map<string, FlowSkipRow>();
  for (const h of handoffs) {
    const route = routeOf(h.product)?.steps;
    const i = route?.indexOf(h.a) ?? -1;
    if (!route || i < 0 || i + 2 >= route.length) continue;
    const p = periods[Number(h.pid)]!;
    const k = `${h.pid}|${h.product}|${h.a}|${h.c}`;
    let row = rows.get(k);
    if (!row) {
      row = { ...grain(p, h.product), from_step: h.a, skipped_step: route[i + 1]!, machine: h.c ?? '', transitions_out: 0, skipping_transitions: 0, skip_share: null };
      rows.set(k, row);
    }
    const n = int(h.v1);
    row.transitions_out += n;
    if (route.indexOf(h.b ?? '') > i + 1) row.skipping_transitions += n;
  }
  return [...rows.values()].map((r) => ({ ...r, skip_share: ratio(r.skipping_transitions, r.transitions_out) }));
}

export interface AssembleOptions {
  periods: readonly Period[];
  minCases: number;
  shifts: readonly Shift[];
  routeOf: (product: string) => Route | undefined;
}

export function assembleFlowRows(fine: readonly FlowFineRow[], o: AssembleOptions): FlowRows {
  const out: FlowRows = { edges: [], steps: [], variants: [], conformance: [], shifts: [], skips: [] };
  const handoffs: FlowFineRow[] = [];
  for (const r of fine) {
    const p = o.periods[Number(r.pid)]!;
    const g = grain(p, r.product);
    if (r.part === 'E') {
      const pseudo = r.a === START || r.b === END;
      out.edges.push({
        ...g,
        from_step: r.a,
        to_step: r.b!,
        transitions: int(r.v1),
        cases: int(r.v2),
        median_wait_s: pseudo ? null : seconds(r.v3),
        p90_wait_s: pseudo ? null : seconds(r.v4),
        is_rework: r.a === r.b,
      });
    } else if (r.part === 'S') {
      const events = int(r.v2);
      const rework = int(r.v3);
      out.steps.push({
        ...g,
        step: r.a,
        cases: int(r.v1),
        events,
        rework_events: rework,
        rework_rate: ratio(rework, events),
        median_processing_s: seconds(r.v4),
        median_wait_in_s: seconds(r.v5),
        bottleneck_rank: null,
      });
    } else if (r.part === 'K') {
      handoffs.push(r);
    } else if (r.part === 'V') {
      out.variants.push({ ...g, variant: r.a, cases: int(r.v1), share: null, rank: 0, median_lead_time_s: seconds(r.v2) });
    } else {
      const units = int(r.v2);
      const firstPass = int(r.v3);
      out.shifts.push({
        ...g,
        step: r.a,
        shift: o.shifts[Number(r.sh)]!.name,
        weekday: p.type === 'day' ? p.from.weekday : null,
        attempts: int(r.v1),
        units_tested: units,
        first_pass_units: firstPass,
        first_pass_yield: ratio(firstPass, units),
        waits: int(r.v4),
        median_wait_in_s: seconds(r.v5),
      });
    }
  }
  rankBottlenecks(out.steps, o.minCases);
  rankVariants(out.variants);
  out.skips = skipsOf(handoffs, o.periods, o.routeOf);
  out.conformance = conformanceOf(out.variants, o.routeOf);
  return out;
}
