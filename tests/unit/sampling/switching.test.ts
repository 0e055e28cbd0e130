/**
 * The switching rules walked over sequences of lots, through every transition.
 */
import { describe, expect, it } from 'vitest';
import { initialState, nextState, resume, severityOf, type JudgedLot, type StateChange, type SwitchingRules, type SwitchingState } from '../../../etl/sampling/switching.js';

const A: JudgedLot = { decision: 'accept', defectives: 0, ac: 1, re: 2 };
const R: JudgedLot = { decision: 'reject', defectives: 3, ac: 1, re: 2 };
const off: SwitchingRules = { reduced: { enabled: false, limitNumber: null } };
const on = (limitNumber: number | null = null): SwitchingRules => ({ reduced: { enabled: true, limitNumber } });

/** Walks lots from a state; returns the states after each lot and the changes with the lot's index. */
function walk(lots: readonly JudgedLot[], rules: SwitchingRules, from: SwitchingState = initialState()) {
  let s = from;
  const states: string[] = [];
  const changes: (StateChange & { at: number })[] = [];
  lots.forEach((l, i) => {
    const r = nextState(s, l, rules);
    s = r.state;
    states.push(s.state);
    if (r.change) changes.push({ ...r.change, at: i });
  });
  return { state: s, states, changes };
}

describe('normal → tightened: 2 rejected among 5 or fewer consecutive lots', () => {
  it('R A A A R: the second rejection within 5 lots tightens', () => {
    const w = walk([R, A, A, A, R], off);
    expect(w.changes).toEqual([{ from: 'normal', to: 'tightened', reason: '2 of the last 5 lots on normal inspection rejected', at: 4 }]);
  });
  it('R R: two in a row tighten at once', () => {
    expect(walk([R, R], off).changes.map((c) => c.at)).toEqual([1]);
  });
  it('R A A A A R: the rejections are 6 lots apart, inspection stays normal', () => {
    const w = walk([R, A, A, A, A, R], off);
    expect(w.changes).toEqual([]);
    expect(w.state.state).toBe('normal');
  });
});

describe('tightened → normal: 5 consecutive accepted; tightened → discontinued: 5 rejected while tightened', () => {
  it('R R then A A A A A: back to normal at the fifth acceptance', () => {
    const w = walk([R, R, A, A, A, A, A], off);
    expect(w.changes.map((c) => `${c.from}→${c.to}@${c.at}`)).toEqual(['normal→tightened@1', 'tightened→normal@6']);
  });
  it('a rejection on tightened restarts the count of acceptances', () => {
    const w = walk([R, R, A, A, A, A, R, A, A, A, A], off);
    expect(w.state.state).toBe('tightened');
    expect(w.state.tightenedAccepted).toBe(4);
    expect(w.state.tightenedRejected).toBe(1);
  });
  it('R R, then five rejections on tightened (with acceptances between): discontinued', () => {
    const w = walk([R, R, R, A, R, A, A, R, R, R], off);
    expect(w.changes.map((c) => `${c.from}→${c.to}@${c.at}`)).toEqual(['normal→tightened@1', 'tightened→discontinued@9']);
    expect(w.state.state).toBe('discontinued');
    expect(severityOf('discontinued')).toBe('tightened');
  });
  it('discontinued stays so whatever the lots, until resumed on tightened', () => {
    const stopped = walk([R, R, R, R, R, R, R], off).state;
    expect(stopped.state).toBe('discontinued');
    expect(walk([A, A, A, A, A, A], off, stopped).changes).toEqual([]);
    const r = resume(stopped);
    expect(r.change).toEqual({ from: 'discontinued', to: 'tightened', reason: 'resumed after corrective action' });
    expect(r.state).toEqual(initialState('tightened'));
    expect(() => resume(initialState())).toThrow(/not discontinued/);
  });
});

describe('normal → reduced (when enabled) and reduced → normal', () => {
  const ten = Array.from({ length: 10 }, () => A);
  it('10 accepted lots switch to reduced only when enabled', () => {
    expect(walk(ten, off).state.state).toBe('normal');
    const w = walk(ten, on());
    expect(w.changes).toEqual([{ from: 'normal', to: 'reduced', reason: '10 consecutive lots accepted on normal inspection', at: 9 }]);
  });
  it('a rejection restarts the 10; the limit number bounds the nonconforming in the 10 samples', () => {
    expect(walk([...ten.slice(0, 9), R, ...ten.slice(0, 9)], on()).state.state).toBe('normal');
    const withOne = Array.from({ length: 10 }, () => ({ ...A, defectives: 1 }));
    expect(walk(withOne, on(9)).state.state).toBe('normal');
    const w = walk([...withOne, A], on(9));
    // The last 10 lots hold 9 nonconforming: within the limit.
    expect(w.changes[0]).toMatchObject({ to: 'reduced', at: 10, reason: '10 consecutive lots accepted on normal inspection with 9 nonconforming in their samples (limit 9)' });
  });
  it('reduced → normal on a rejected lot', () => {
    const reduced = initialState('reduced');
    expect(nextState(reduced, { decision: 'reject', defectives: 4, ac: 1, re: 4 }, on()).change).toEqual({ from: 'reduced', to: 'normal', reason: 'a lot rejected on reduced inspection' });
  });
  it('reduced → normal on a lot accepted between Ac and Re; a lot within Ac stays reduced', () => {
    const reduced = initialState('reduced');
    expect(nextState(reduced, { decision: 'accept', defectives: 2, ac: 1, re: 4 }, on()).change).toEqual({
      from: 'reduced',
      to: 'normal',
      reason: 'a lot accepted with 2 nonconforming, between Ac 1 and Re 4',
    });
    expect(nextState(reduced, { decision: 'accept', defectives: 1, ac: 1, re: 4 }, on()).change).toBeNull();
  });
});

describe('a long sequence through every state', () => {
  it('normal → reduced → normal → tightened → normal → tightened → discontinued', () => {
    const lots: JudgedLot[] = [
      ...Array.from({ length: 10 }, () => A), // → reduced at 9
      { decision: 'accept', defectives: 2, ac: 1, re: 4 }, // → normal at 10
      R, A, R, // → tightened at 13
      A, A, A, A, A, // → normal at 18
      R, R, // → tightened at 20
      R, R, R, R, R, // → discontinued at 25
    ];
    const w = walk(lots, on());
    expect(w.changes.map((c) => `${c.from}→${c.to}@${c.at}`)).toEqual([
      'normal→reduced@9',
      'reduced→normal@10',
      'normal→tightened@13',
      'tightened→normal@18',
      'normal→tightened@20',
      'tightened→discontinued@25',
    ]);
  });
});
