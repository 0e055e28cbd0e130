/**
 * The switching rules of MIL-STD-105E § 8 (ANSI Z1.4 § 8) as a pure function walked over a
 * product × class's lots in inspection order:
 *
 * - normal → tightened: 2 lots rejected among 5 or fewer consecutive lots on normal inspection;
 * - tightened → normal: 5 consecutive lots accepted on tightened inspection;
 * - normal → reduced (only where enabled: production steady and the responsible authority
 *   agrees): the preceding 10 lots on normal inspection accepted and, when a limit number is
 *   configured, the nonconforming units in their samples at most that number;
 * - reduced → normal: a lot rejected, or a lot accepted with more than Ac but fewer than Re
 *   nonconforming (reduced plans have Re > Ac + 1);
 * - discontinued ("stop"): 5 lots rejected while on tightened inspection (the standard's
 *   cumulative count since tightened began). Inspection stays discontinued until a person
 *   resumes it (`yieldrun sampling resume`), which restarts on tightened.
 *
 * Lots that were not judged (inspected fewer than the sample size, no plan) change nothing.
 */

export type InspectionState = 'normal' | 'tightened' | 'reduced' | 'discontinued';

export interface SwitchingState {
  state: InspectionState;
  /** On normal: rejected (true) or accepted for the last ≤ 5 lots, oldest first. */
  normalLast5: boolean[];
  /** On normal: nonconforming in the samples of the consecutive accepted lots, the last ≤ 10. */
  normalAcceptedRun: number[];
  /** On tightened: consecutive accepted lots. */
  tightenedAccepted: number;
  /** On tightened: lots rejected since tightened began. */
  tightenedRejected: number;
}

export interface SwitchingRules {
  reduced: { enabled: boolean; limitNumber: number | null };
}

export interface JudgedLot {
  decision: 'accept' | 'reject';
  defectives: number;
  ac: number;
  re: number;
}

export interface StateChange {
  from: InspectionState;
  to: InspectionState;
  reason: string;
}

export function initialState(state: InspectionState = 'normal'): SwitchingState {
  return { state, normalLast5: [], normalAcceptedRun: [], tightenedAccepted: 0, tightenedRejected: 0 };
}

/** The severity of the master table a state inspects with: a discontinued line stays on tightened. */
export function severityOf(state: InspectionState): 'normal' | 'tightened' | 'reduced' {
  return state === 'discontinued' ? 'tightened' : state;
}

function to(state: InspectionState, from: InspectionState, reason: string): { state: SwitchingState; change: StateChange } {
  return { state: initialState(state), change: { from, to: state, reason } };
}

export function nextState(s: SwitchingState, lot: JudgedLot, rules: SwitchingRules): { state: SwitchingState; change: StateChange | null } {
  const rejected = lot.decision === 'reject';
  switch (s.state) {
    case 'normal': {
      const last5 = [...s.normalLast5, rejected].slice(-5);
      if (last5.filter(Boolean).length >= 2) return to('tightened', 'normal', `2 of the last ${last5.length} lots on normal inspection rejected`);
      const run = rejected ? [] : [...s.normalAcceptedRun, lot.defectives].slice(-10);
      const { enabled, limitNumber } = rules.reduced;
      if (enabled && run.length >= 10) {
        const total = run.reduce((a, d) => a + d, 0);
        if (limitNumber === null || total <= limitNumber) {
          return to('reduced', 'normal', `10 consecutive lots accepted on normal inspection${limitNumber === null ? '' : ` with ${total} nonconforming in their samples (limit ${limitNumber})`}`);
        }
      }
      return { state: { ...s, normalLast5: last5, normalAcceptedRun: run }, change: null };
    }
    case 'tightened': {
      if (rejected) {
        const n = s.tightenedRejected + 1;
        if (n >= 5) return to('discontinued', 'tightened', '5 lots rejected on tightened inspection: acceptance inspection discontinued until the supplier has corrected the cause');
        return { state: { ...s, tightenedAccepted: 0, tightenedRejected: n }, change: null };
      }
      const n = s.tightenedAccepted + 1;
      if (n >= 5) return to('normal', 'tightened', '5 consecutive lots accepted on tightened inspection');
      return { state: { ...s, tightenedAccepted: n }, change: null };
    }
    case 'reduced': {
      if (rejected) return to('normal', 'reduced', 'a lot rejected on reduced inspection');
      if (lot.defectives > lot.ac) return to('normal', 'reduced', `a lot accepted with ${lot.defectives} nonconforming, between Ac ${lot.ac} and Re ${lot.re}`);
      return { state: s, change: null };
    }
    case 'discontinued':
      return { state: s, change: null };
  }
}

/** Resuming a discontinued inspection after corrective action: tightened, counted afresh. */
export function resume(s: SwitchingState): { state: SwitchingState; change: StateChange } {
  if (s.state !== 'discontinued') throw new Error(`inspection is ${s.state}, not discontinued: nothing to resume`);
  return to('tightened', 'discontinued', 'resumed after corrective action');
}
