/**
 * The decisions of a product × class's lots, walked in inspection order (pure): each lot gets its
 * plan for the inspection state it meets, its decision, the plan's characteristics, and the state
 * after it; manual changes (a resume after corrective action) apply on their day.
 */
import { SamplingPlanError } from './code-letters.js';
import type { InspectedLot } from './lot-source.js';
import { aoql, consumersRisk, fractionAtPa, producersRisk } from './oc.js';
import { decide, planFor, type LotPlan, type PlanSpec, type PlanTables } from './plans.js';
import { nextState, resume, type InspectionState, type StateChange, type SwitchingRules, type SwitchingState } from './switching.js';

export type LotDecision = 'accept' | 'reject' | 'sample_too_small' | 'no_plan' | 'invalid';

export interface PlanEntry {
  product: string;
  class: string;
  plan: PlanSpec;
  ltpd?: number;
}

export interface Disposition {
  lot: InspectedLot;
  day: string;
  seq: number;
  planType: PlanSpec['type'] | null;
  plan: LotPlan | null;
  decision: LotDecision;
  note: string | null;
  before: InspectionState;
  after: SwitchingState;
  change: StateChange | null;
  aql: number | null;
  ltpd: number | null;
  alpha: number | null;
  beta: number | null;
  ltpdAtPa10: number | null;
  aoql: number | null;
}

const matches = (pattern: string, value: string) => pattern === '*' || pattern.toLowerCase() === value.toLowerCase();

/** The first configured plan for a product and class. */
export function planEntryFor(plans: readonly PlanEntry[], product: string, inspectionClass: string): PlanEntry | undefined {
  return plans.find((p) => matches(p.product, product) && matches(p.class, inspectionClass));
}


const rulesOf = (spec: PlanSpec): SwitchingRules => ({ reduced: spec.type === 'mil-std-105e' ? spec.reduced : { enabled: false, limitNumber: null } });

/** A plan's characteristics for a lot: α at the AQL, β at the LTPD, the LTPD at Pa 0.10, the AOQL. */
export function characteristics(plan: LotPlan, lotSize: number, aqlPercent: number | null, ltpdPercent: number | null) {
  const p = { n: plan.n, c: plan.ac };
  return {
    alpha: aqlPercent === null ? null : producersRisk(p, aqlPercent / 100),
    beta: ltpdPercent === null ? null : consumersRisk(p, ltpdPercent / 100),
    ltpdAtPa10: fractionAtPa(p, 0.1),
    aoql: aoql(p, lotSize).aoql,
  };
}

/**
 * One product × class's lots of one day, from the state it starts the day with. `seqFrom`: the
 * lots' order numbers continue the day's count for the grain.
 */
export function disposeLots(
  lots: readonly InspectedLot[],
  day: string,
  start: SwitchingState,
  cfg: { plans: readonly PlanEntry[] } & PlanTables,
): { dispositions: Disposition[]; state: SwitchingState } {
  let state = start;
  const out: Disposition[] = [];
  lots.forEach((lot, i) => {
    const before = state.state;
    const base = { lot, day, seq: i + 1, before, change: null, aql: null, ltpd: null, alpha: null, beta: null, ltpdAtPa10: null, aoql: null };
    if (lot.invalid) {
      out.push({ ...base, planType: null, plan: null, decision: 'invalid', note: lot.invalid, after: state });
      return;
    }
    const entry = planEntryFor(cfg.plans, lot.product, lot.inspectionClass);
    if (!entry) {
      out.push({ ...base, planType: null, plan: null, decision: 'no_plan', note: `no sampling.plans entry for product '${lot.product}' class '${lot.inspectionClass}'`, after: state });
      return;
    }
    let plan: LotPlan;
    try {
      plan = planFor(entry.plan, lot.lotSize!, state.state, cfg);
    } catch (err) {
      if (!(err instanceof SamplingPlanError)) throw err;
      out.push({ ...base, planType: entry.plan.type, plan: null, decision: 'no_plan', note: err.message, after: state });
      return;
    }
    const decision = decide(plan, lot.inspected!, lot.defectives!);
    const aql = entry.plan.type === 'mil-std-105e' ? entry.plan.aql : null;
    const ltpd = entry.ltpd ?? null;
    const chars = characteristics(plan, lot.lotSize!, aql, ltpd);
    let change: StateChange | null = null;
    if (decision === 'accept' || decision === 'reject') {
      const next = nextState(state, { decision, defectives: lot.defectives!, ac: plan.ac, re: plan.re }, rulesOf(entry.plan));
      state = next.state;
      change = next.change;
    }
    const note = decision === 'sample_too_small' ? `inspected ${lot.inspected}, the plan needs ${plan.n}` : null;
    out.push({ ...base, planType: entry.plan.type, plan, decision, note, after: state, change, aql, ltpd, ...chars });
  });
  return { dispositions: out, state };
}

/** A person's resume, applied where it is recorded; a state that is no longer discontinued is left alone. */
export function applyResume(state: SwitchingState): { state: SwitchingState; change: StateChange | null } {
  if (state.state !== 'discontinued') return { state, change: null };
  return resume(state);
}
