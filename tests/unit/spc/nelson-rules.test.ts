import { describe, expect, it } from 'vitest';
import {
  applicableRules,
  DEFAULT_RULE_SETTINGS,
  DEFAULT_RULES,
  pairedChartRules,
  nelsonViolations,
  type RulePoint,
  type RuleNumber,
  type Violation,
} from '../../../etl/spc/nelson-rules.js';

/** Points on a chart with CL = 0 and σ = 1, so a value is its own z-score (exact in binary). */
function z(values: readonly (number | null)[], sigma: number | null = 1): RulePoint[] {
  return values.map((value) => ({ value, cl: 0, sigma }));
}

function only(rule: RuleNumber, points: RulePoint[], settings: Parameters<typeof nelsonViolations>[1] = {}): Violation[] {
  return nelsonViolations(points, { ...settings, enabled: [rule] });
}

const flagged = (violations: Violation[]): number[] => violations.map((v) => v.pointIndex);
const repeat = <T,>(value: T, times: number): T[] => Array.from({ length: times }, () => value);

describe('rule 1: one point beyond 3σ', () => {
  it('fires on each point strictly beyond, with its side', () => {
    expect(only(1, z([0, 3.5, -4, 1]))).toEqual([
      { rule: 1, pointIndex: 1, firstIndex: 1, side: 'above' },
      { rule: 1, pointIndex: 2, firstIndex: 2, side: 'below' },
    ]);
  });

  it('a point exactly on the 3σ line is within', () => {
    expect(only(1, z([3, -3, 2.999]))).toEqual([]);
  });

  it('works from each point’s own CL and σ', () => {
    const points: RulePoint[] = [
      { value: 13, cl: 10, sigma: 1 }, // exactly 3σ: no
      { value: 13, cl: 10, sigma: 0.5 }, // 6σ: yes
    ];
    expect(flagged(only(1, points))).toEqual([1]);
  });
});

describe('rule 2: nine points in a row on the same side of CL', () => {
  it('fires at the ninth point and at each further point of the run', () => {
    expect(only(2, z(repeat(0.5, 11)))).toEqual([
      { rule: 2, pointIndex: 8, firstIndex: 0, side: 'above' },
      { rule: 2, pointIndex: 9, firstIndex: 1, side: 'above' },
      { rule: 2, pointIndex: 10, firstIndex: 2, side: 'above' },
    ]);
    expect(only(2, z([1, ...repeat(-0.1, 9)]))).toEqual([{ rule: 2, pointIndex: 9, firstIndex: 1, side: 'below' }]);
  });

  it('eight on one side is not enough', () => {
    expect(only(2, z(repeat(2, 8)))).toEqual([]);
  });

  it('a point exactly on CL breaks the run', () => {
    expect(only(2, z([...repeat(1, 4), 0, ...repeat(1, 5)]))).toEqual([]);
  });

  it('a point on the other side breaks the run', () => {
    expect(only(2, z([...repeat(1, 8), -1, ...repeat(1, 8)]))).toEqual([]);
  });

  it('configurable: Western Electric 8, AIAG 7', () => {
    expect(flagged(only(2, z(repeat(1, 8)), { sameSideRun: 8 }))).toEqual([7]);
    expect(only(2, z(repeat(1, 7)), { sameSideRun: 7 })).toEqual([{ rule: 2, pointIndex: 6, firstIndex: 0, side: 'above' }]);
  });

  it('a point without a value breaks the run', () => {
    expect(only(2, z([...repeat(1, 4), null, ...repeat(1, 5)]))).toEqual([]);
  });
});

describe('rule 3: six points in a row steadily increasing or decreasing', () => {
  it('six points (five increases) fire at the sixth, and a continuing trend at each further point', () => {
    expect(only(3, z([1, 2, 3, 4, 5, 6]))).toEqual([{ rule: 3, pointIndex: 5, firstIndex: 0, side: null }]);
    expect(flagged(only(3, z([9, 8, 7, 6, 5, 4, 3, 2])))).toEqual([5, 6, 7]);
    expect(only(3, z([0, 9, 8, 7, 6, 5, 4]))[0]).toEqual({ rule: 3, pointIndex: 6, firstIndex: 1, side: null });
  });

  it('five points are not enough', () => {
    expect(only(3, z([1, 2, 3, 4, 5]))).toEqual([]);
  });

  it('equal consecutive values break the trend', () => {
    expect(only(3, z([1, 2, 3, 3, 4, 5, 6]))).toEqual([]);
    expect(flagged(only(3, z([1, 2, 3, 3, 4, 5, 6, 7, 8])))).toEqual([8]);
  });

  it('a change of direction starts a new trend', () => {
    expect(only(3, z([1, 2, 3, 4, 5, 4, 5, 6, 7, 8]))).toEqual([]);
  });

  it('ignores CL and σ: the trend can cross the centre line', () => {
    expect(flagged(only(3, z([-3, -2, -1, 0, 1, 2], null)))).toEqual([5]);
  });

  it('configurable length', () => {
    expect(flagged(only(3, z([1, 2, 3, 4, 5, 6, 7]), { trendRun: 7 }))).toEqual([6]);
    expect(flagged(only(3, z([1, 2, 3, 4, 5]), { trendRun: 5 }))).toEqual([4]);
  });
});

describe('rule 4: fourteen points in a row alternating up and down', () => {
  const zigzag = (length: number): number[] => Array.from({ length }, (_, i) => (i % 2 === 0 ? 0.5 : -0.5));

  it('fires at the fourteenth point and each further one', () => {
    expect(only(4, z(zigzag(14)))).toEqual([{ rule: 4, pointIndex: 13, firstIndex: 0, side: null }]);
    expect(flagged(only(4, z(zigzag(16))))).toEqual([13, 14, 15]);
  });

  it('thirteen are not enough', () => {
    expect(only(4, z(zigzag(13)))).toEqual([]);
  });

  it('an equal pair breaks the alternation', () => {
    const broken = zigzag(14);
    broken[7] = broken[6]!; // step 6→7 is 0
    expect(only(4, z(broken))).toEqual([]);
  });

  it('two steps the same way break it', () => {
    expect(flagged(only(4, z(zigzag(15))))).toEqual([13, 14]);
    const broken = zigzag(15);
    broken[7] = 1.5; // 5→6 and 6→7 both go up: runs of 7 and 9 points remain
    expect(only(4, z(broken))).toEqual([]);
  });

  it('configurable length', () => {
    expect(flagged(only(4, z(zigzag(8)), { alternatingRun: 8 }))).toEqual([7]);
  });
});

describe('rule 5: two of three points beyond 2σ on the same side', () => {
  it('fires at the second beyond point; the first point is where its window of three starts', () => {
    expect(only(5, z([0, 2.5, 0, 2.1]))).toEqual([{ rule: 5, pointIndex: 3, firstIndex: 1, side: 'above' }]);
    // Window [0, 2.5, 2.1] ends at 3 and starts at 1: the point within 2σ opens it, not the first beyond.
    expect(only(5, z([0, 0, 2.5, 2.1]))).toEqual([{ rule: 5, pointIndex: 3, firstIndex: 1, side: 'above' }]);
    // At the start of the series the window is shorter: two points, starting at 0.
    expect(only(5, z([-2.5, -2.5]))).toEqual([{ rule: 5, pointIndex: 1, firstIndex: 0, side: 'below' }]);
  });

  it('flags only a point that is itself beyond', () => {
    // At index 2 the window [2.5, 2.5, 0] has two beyond, but point 2 is not one of them.
    expect(flagged(only(5, z([2.5, 2.5, 0])))).toEqual([1]);
  });

  it('continues: three in a row flag the second and the third', () => {
    expect(flagged(only(5, z([2.5, 2.5, 2.5])))).toEqual([1, 2]);
  });

  it('a point exactly on 2σ does not count', () => {
    expect(only(5, z([2.5, 2, 0]))).toEqual([]);
    expect(only(5, z([2, 2.5]))).toEqual([]);
  });

  it('opposite sides do not combine, nor do points three apart', () => {
    expect(only(5, z([2.5, -2.5, 0]))).toEqual([]);
    expect(only(5, z([2.5, 0, 0, 2.5]))).toEqual([]);
  });

  it('points beyond 3σ count as beyond 2σ', () => {
    expect(only(5, z([3.5, 0, 2.5]))).toEqual([{ rule: 5, pointIndex: 2, firstIndex: 0, side: 'above' }]);
  });

  it('configurable count and window', () => {
    expect(flagged(only(5, z([2.5, 0, 0, 2.5]), { beyondTwoSigma: { count: 2, window: 4 } }))).toEqual([3]);
  });
});

describe('rule 6: four of five points beyond 1σ on the same side', () => {
  it('fires when the fourth beyond point completes the window', () => {
    expect(only(6, z([1.5, 1.5, 0, 1.5, 1.5]))).toEqual([{ rule: 6, pointIndex: 4, firstIndex: 0, side: 'above' }]);
    // The window of five ends at 4 and starts at 0, the point on CL: it is the window's first point.
    expect(only(6, z([0, -1.2, -1.2, -1.2, -1.2]))).toEqual([{ rule: 6, pointIndex: 4, firstIndex: 0, side: 'below' }]);
    // Six points: the window at 5 is points 1..5.
    expect(only(6, z([0, 0, 1.5, 1.5, 1.5, 1.5]))).toEqual([{ rule: 6, pointIndex: 5, firstIndex: 1, side: 'above' }]);
  });

  it('a point exactly on 1σ counts as within', () => {
    expect(only(6, z([1.5, 1.5, 0, 1.5, 1]))).toEqual([]);
    expect(only(6, z([1.5, 1.5, 1, 1.5]))).toEqual([]);
  });

  it('three of five is not enough, nor four spread over six', () => {
    expect(only(6, z([1.5, 1.5, 1.5, 0, 0]))).toEqual([]);
    expect(only(6, z([1.5, 1.5, 1.5, 0, 0, 1.5]))).toEqual([]);
  });

  it('flags only beyond points, and each further one', () => {
    expect(flagged(only(6, z([1.5, 1.5, 1.5, 1.5, 0, 1.5])))).toEqual([3, 5]);
  });
});

describe('rule 7: fifteen points in a row within 1σ', () => {
  it('fires at the fifteenth, counting points exactly on 1σ and on CL as within', () => {
    const values = [...repeat(0.5, 7), 1, -1, 0, ...repeat(-0.5, 5)];
    expect(values).toHaveLength(15);
    expect(only(7, z(values))).toEqual([{ rule: 7, pointIndex: 14, firstIndex: 0, side: null }]);
    expect(flagged(only(7, z([...values, 0.2])))).toEqual([14, 15]);
  });

  it('fourteen are not enough; a point just beyond 1σ breaks the run', () => {
    expect(only(7, z(repeat(0.5, 14)))).toEqual([]);
    expect(only(7, z([...repeat(0.5, 7), 1.0001, ...repeat(0.5, 7)]))).toEqual([]);
  });

  it('configurable length', () => {
    expect(flagged(only(7, z(repeat(0, 5)), { withinOneSigmaRun: 5 }))).toEqual([4]);
  });
});

describe('rule 8: the mixture test, eight points in a row beyond 1σ with points on both sides', () => {
  it('fires at the eighth, whichever side each point is on', () => {
    const values = [1.5, -1.5, 2, -3, 1.1, -1.1, 4, -2];
    expect(only(8, z(values))).toEqual([{ rule: 8, pointIndex: 7, firstIndex: 0, side: null }]);
    expect(flagged(only(8, z([...values, 1.5])))).toEqual([7, 8]);
  });

  it('a point exactly on 1σ is within and breaks the run; seven are not enough', () => {
    expect(only(8, z([1.5, -1.5, 2, -1, 1.1, -1.1, 4, -2]))).toEqual([]);
    expect(only(8, z([1.5, -1.5, 2, -3, 1.1, -1.1, 4]))).toEqual([]);
  });

  it('fires on an alternating mixture and not on a one-sided run (rules 2 and 6 flag that one)', () => {
    // Points alternating ±1.5σ, as two streams mixed on one chart: flagged from the eighth on.
    const mixture = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 1.5 : -1.5));
    expect(flagged(only(8, z(mixture)))).toEqual([7, 8, 9]);
    // Ten points all 1.5σ above CL: beyond 1σ, none within, but one side only.
    expect(only(8, z(repeat(1.5, 10)))).toEqual([]);
    expect(only(8, z(repeat(-2.5, 10)))).toEqual([]);
  });

  it('the window must hold both sides: seven above then one below fires once, at the eighth', () => {
    const values = [...repeat(2, 7), -2, 2, 2, 2, 2, 2, 2, 2, 2];
    // The windows ending at 7..14 hold the point below (index 7); the one ending at 15 does not.
    expect(flagged(only(8, z(values)))).toEqual([7, 8, 9, 10, 11, 12, 13, 14]);
  });

  it('configurable length', () => {
    expect(flagged(only(8, z([-2, 2, -2, 2, -2, -2]), { outsideOneSigmaRun: 5 }))).toEqual([4, 5]);
    expect(flagged(only(8, z(repeat(-2, 5)), { outsideOneSigmaRun: 5 }))).toEqual([]);
  });
});

describe('the first point stored with a violation: the first point of the window ending at the flagged one', () => {
  it('a run that goes on moves its window: rules 3, 4, 7 and 8 on the point after the first flag', () => {
    // Seven rising points: at 6 the trend of six is points 1..6.
    expect(only(3, z([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))[1]).toEqual({ rule: 3, pointIndex: 6, firstIndex: 1, side: null });
    const zigzag = Array.from({ length: 15 }, (_, i) => (i % 2 === 0 ? 0.5 : -0.5));
    expect(only(4, z(zigzag))).toEqual([
      { rule: 4, pointIndex: 13, firstIndex: 0, side: null },
      { rule: 4, pointIndex: 14, firstIndex: 1, side: null },
    ]);
    expect(only(7, z(repeat(0.5, 16)))[1]).toEqual({ rule: 7, pointIndex: 15, firstIndex: 1, side: null });
    expect(only(8, z([0, -1.5, 1.5, -1.5, 1.5, -1.5, 1.5, -1.5, 1.5, -1.5]))).toEqual([
      { rule: 8, pointIndex: 8, firstIndex: 1, side: null },
      { rule: 8, pointIndex: 9, firstIndex: 2, side: null },
    ]);
  });

  it('a run broken and restarted starts its window after the break', () => {
    // Rule 2: a point on CL at 3 breaks the run; nine above from 4 fire at 12 with the window 4..12.
    expect(only(2, z([1, 1, 1, 0, ...repeat(1, 9)]))).toEqual([{ rule: 2, pointIndex: 12, firstIndex: 4, side: 'above' }]);
  });
});

describe('the paired chart (MR, R, S): rule 1 only', () => {
  it('judged by rule 1 when the measure has it on, by nothing otherwise', () => {
    expect(pairedChartRules(DEFAULT_RULES)).toEqual([1]);
    expect(pairedChartRules([1, 2, 3, 4, 5, 6, 7, 8])).toEqual([1]);
    expect(pairedChartRules([2, 5])).toEqual([]);
  });

  it('rule 1 on paired points: above UCL, below an LCL above zero; a clipped LCL of 0 never fires', () => {
    // An R chart of n = 7 with σ̂ = 1: CL = d2 = 2.704, σ_R = d3 = 0.833, LCL = 2.704 − 2.499 = 0.205, UCL = 5.203.
    const r = (value: number) => ({ value, cl: 2.704, sigma: 0.833 });
    expect(nelsonViolations([r(6), r(2.7), r(0.1), r(0.3)], { enabled: pairedChartRules(DEFAULT_RULES) })).toEqual([
      { rule: 1, pointIndex: 0, firstIndex: 0, side: 'above' },
      { rule: 1, pointIndex: 2, firstIndex: 2, side: 'below' },
    ]);
    // An MR chart: CL = 1.128, σ_MR = 0.853, so CL − 3σ < 0 and LCL is clipped to 0: a zero range is in control.
    const mr = (value: number) => ({ value, cl: 1.128, sigma: 0.853 });
    expect(nelsonViolations([mr(0), mr(3.6), mr(3.7)], { enabled: [1] })).toEqual([{ rule: 1, pointIndex: 2, firstIndex: 2, side: 'above' }]);
  });
});

describe('choosing rules and the shape of the output', () => {
  it('default rules are 1, 2, 3, 5, 6: an alternation (rule 4) alone is not reported', () => {
    expect(DEFAULT_RULE_SETTINGS.enabled).toEqual([1, 2, 3, 5, 6]);
    const zigzag = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 0.5 : -0.5));
    expect(nelsonViolations(z(zigzag))).toEqual([]);
    expect(nelsonViolations(z(zigzag), { enabled: [4] })).not.toEqual([]);
  });

  it('one point can break several rules; output is ordered by point, then rule', () => {
    const values = [0.2, 0.4, 0.6, 0.8, 1.5, 2.5, 3.5];
    expect(nelsonViolations(z(values), { enabled: [6, 5, 3, 1] })).toEqual([
      { rule: 3, pointIndex: 5, firstIndex: 0, side: null },
      { rule: 1, pointIndex: 6, firstIndex: 6, side: 'above' },
      { rule: 3, pointIndex: 6, firstIndex: 1, side: null },
      // 2 of 3 beyond 2σ: the window is points 4..6 (1.5 is within 2σ but opens the window).
      { rule: 5, pointIndex: 6, firstIndex: 4, side: 'above' },
    ]);
  });

  it('p-charts use rules 1–4 only: the default set gives 1, 2, 3; rule 4 only when configured', () => {
    expect(applicableRules('p')).toEqual([1, 2, 3]);
    expect(applicableRules('p', DEFAULT_RULES)).toEqual([1, 2, 3]);
    expect(applicableRules('p', [1, 2, 3, 4, 5, 6, 7, 8])).toEqual([1, 2, 3, 4]);
    expect(applicableRules('Xbar-R', [1, 5])).toEqual([1, 5]);
  });

  it('without σ the zone rules see nothing, and a point without a value fits no pattern', () => {
    expect(nelsonViolations(z([5, 5, 5], null), { enabled: [1, 5, 6, 7, 8] })).toEqual([]);
    expect(nelsonViolations(z([null, null]), { enabled: [1, 2, 3, 4, 5, 6, 7, 8] })).toEqual([]);
    expect(nelsonViolations([{ value: 5, cl: null, sigma: 1 }], { enabled: [1, 2] })).toEqual([]);
  });

  it('σ = 0 (a constant baseline): a point on CL is within everything, any other point is beyond every line', () => {
    const points: RulePoint[] = [
      { value: 5, cl: 5, sigma: 0 },
      { value: 5.1, cl: 5, sigma: 0 },
    ];
    expect(nelsonViolations(points, { enabled: [1] })).toEqual([{ rule: 1, pointIndex: 1, firstIndex: 1, side: 'above' }]);
  });

  it('rejects settings that make no sense, naming the setting', () => {
    expect(() => nelsonViolations([], { enabled: [9 as RuleNumber] })).toThrow(/numbers 1 to 8/);
    expect(() => nelsonViolations([], { sameSideRun: 0 })).toThrow(/sameSideRun/);
    expect(() => nelsonViolations([], { trendRun: 2.5 })).toThrow(/trendRun/);
    expect(() => nelsonViolations([], { beyondOneSigma: { count: 6, window: 5 } })).toThrow(/beyondOneSigma.count/);
  });
});
